"""binary identifier collation

Queue names are case-sensitive and must sort byte-wise on every pool:
MySQL/MariaDB tables move to utf8mb4_bin (their default collation is
case-insensitive, so "Foo" and "foo" collided), PostgreSQL queue-name
columns use the "C" collation whatever the database locale. SQLite
already compares byte-wise.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("queues", "messages", "claims", "pools", "flavors", "catalogue", "subscriptions")
QUEUE_NAMES = (("queues", "name"), ("catalogue", "queue"))


def _convert_mysql(collation: str) -> None:
    # catalogue.pool -> pools.name: MariaDB refuses to change a column that a
    # foreign key uses, so the key is dropped and made again around it.
    op.drop_constraint("fk_catalogue_pool_pools", "catalogue", type_="foreignkey")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}")
    op.create_foreign_key("fk_catalogue_pool_pools", "catalogue", "pools", ["pool"], ["name"])


def _alter_postgresql(kind: sa.types.TypeEngine[str]) -> None:
    for table, column in QUEUE_NAMES:
        op.alter_column(table, column, type_=kind, existing_nullable=False)


def upgrade() -> None:
    """Upgrade the schema."""
    dialect = op.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        _convert_mysql("utf8mb4_bin")
    elif dialect == "postgresql":
        _alter_postgresql(postgresql.VARCHAR(64, collation="C"))


def downgrade() -> None:
    """Downgrade the schema."""
    dialect = op.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        _convert_mysql("utf8mb4_general_ci")
    elif dialect == "postgresql":
        _alter_postgresql(sa.String(64))
