"""drop queue foreign keys

On MySQL/MariaDB a foreign-key check holds a shared lock on the parent
queue row until commit, serialising claims against posts of the same
queue. Queue deletion removes messages and claims explicitly instead.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 05:49:39.057779
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's batch mode rebuilds the table from reflection, which does not see
# AUTOINCREMENT: without it SQLite reuses the largest deleted rowid, and a
# message id would come back for another message.
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    """Upgrade the schema."""
    with op.batch_alter_table("claims", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_claims_queue_id_queues"), type_="foreignkey")

    with op.batch_alter_table("messages", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_messages_queue_id_queues"), type_="foreignkey")


def downgrade() -> None:
    """Downgrade the schema."""
    with op.batch_alter_table("messages", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_queue_id_queues"),
            "queues",
            ["queue_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("claims", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_claims_queue_id_queues"),
            "queues",
            ["queue_id"],
            ["id"],
            ondelete="CASCADE",
        )
