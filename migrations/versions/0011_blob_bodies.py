"""blob bodies: the table of big message bodies kept apart from their rows

``blobs`` holds the bodies above a queue's ``_blob_threshold`` in the
database named by the ``blob_store`` setting; every database gets the
(empty) table so that one schema serves pools, catalogue and blob store.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 15:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
QueueName = sa.String(65).with_variant(postgresql.VARCHAR(65, collation="C"), "postgresql")
Document = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    """Add the blobs table."""
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project", sa.String(256), nullable=False),
        sa.Column("queue", QueueName, nullable=False),
        sa.Column("body", Document, nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blobs")),
        **MYSQL,
    )
    op.create_index(op.f("ix_blobs_expires_at"), "blobs", ["expires_at"])


def downgrade() -> None:
    """Drop the blobs table (and the bodies in it)."""
    op.drop_index(op.f("ix_blobs_expires_at"), table_name="blobs")
    op.drop_table("blobs")
