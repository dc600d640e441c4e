"""notification outbox

A ``deliveries`` table (one row per message and subscription, written in
the posting transaction) and ``queues.notify_until``, the hint that lets a
post skip the outbox when its queue has no live subscription.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Document = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
QueueName = sa.String(64).with_variant(postgresql.VARCHAR(64, collation="C"), "postgresql")
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    """Upgrade the schema."""
    op.add_column("queues", sa.Column("notify_until", sa.BigInteger(), nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("id", Key, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.String(32), nullable=False),
        sa.Column("project", sa.String(256), nullable=False),
        sa.Column("queue", QueueName, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message_id", Key, nullable=True),
        sa.Column("body", Document, nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sqlite_autoincrement=True,
        **MYSQL,
    )
    op.create_index("ix_deliveries_state_due_at", "deliveries", ["state", "due_at"])
    op.create_index(
        "ix_deliveries_subscription_id_state", "deliveries", ["subscription_id", "state"]
    )


def downgrade() -> None:
    """Downgrade the schema."""
    op.drop_table("deliveries")
    op.drop_column("queues", "notify_until")
