"""queue moves: tombstones on queues, the journal of moves, message key blocks

``queues.moved_to`` names the pool a queue was moved to (the row stays as a
tombstone that redirects stale workers); ``moves`` journals the moves in
progress so that an interrupted one is completed or rolled back;
``id_blocks`` gives each pool its own range of message ids.

Revision ID: 0010
Revises: 0009 (main's head when this branch was rebased; rechain as branches merge)
Create Date: 2026-11-30 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
# A queue's or a topic's key (65 characters since 0007).
QueueName = sa.String(65).with_variant(postgresql.VARCHAR(65, collation="C"), "postgresql")
# SQLite's batch mode rebuilds the table from reflection, which does not see
# AUTOINCREMENT: say it again, or queue ids could be reused.
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    """Add the tombstone column and the journal."""
    with op.batch_alter_table("queues", table_kwargs=KEEP) as batch:
        batch.add_column(sa.Column("moved_to", sa.String(64), nullable=True))
    op.create_table(
        "moves",
        sa.Column("project", sa.String(256), nullable=False),
        sa.Column("queue", QueueName, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("staging", sa.String(64), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project", "queue", name=op.f("pk_moves")),
        **MYSQL,
    )
    op.create_table(
        "id_blocks",
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pool", name=op.f("pk_id_blocks")),
        sa.UniqueConstraint("block", name=op.f("uq_id_blocks_block")),
        **MYSQL,
    )


def downgrade() -> None:
    """Drop the journal and the tombstones (tombstone rows are deleted)."""
    op.drop_table("id_blocks")
    op.drop_table("moves")
    op.execute("DELETE FROM queues WHERE moved_to IS NOT NULL")
    with op.batch_alter_table("queues", table_kwargs=KEEP) as batch:
        batch.drop_column("moved_to")
