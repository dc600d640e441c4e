"""queue counters and queue-first indexes

Stats stop counting rows: queues get ``message_rows`` (filled here from
the messages each queue has) and a ``queue_counters`` table of shard rows.
Every index on messages and claims now starts with the queue: the lone
``expires_at`` indexes give way to ``(queue_id, expires_at)``, and
``(queue_id, claim_expires)`` counts claimed messages.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SQLite's batch mode rebuilds the table from reflection, which does not see
# AUTOINCREMENT: say it again, or queue ids could be reused.
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    """Upgrade the schema, then count each existing queue's messages."""
    op.create_table(
        "queue_counters",
        sa.Column("queue_id", Key, autoincrement=False, nullable=False),
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("queue_id", "shard", name=op.f("pk_queue_counters")),
        **MYSQL,
    )
    with op.batch_alter_table("queues", table_kwargs=KEEP) as batch:
        batch.add_column(
            sa.Column("message_rows", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
    op.create_index(op.f("ix_messages_queue_id_expires_at"), "messages", ["queue_id", "expires_at"])
    op.create_index(
        op.f("ix_messages_queue_id_claim_expires"), "messages", ["queue_id", "claim_expires"]
    )
    op.drop_index(op.f("ix_messages_expires_at"), table_name="messages")
    op.create_index(op.f("ix_claims_queue_id_expires_at"), "claims", ["queue_id", "expires_at"])
    op.drop_index(op.f("ix_claims_queue_id"), table_name="claims")
    op.drop_index(op.f("ix_claims_expires_at"), table_name="claims")
    op.execute(
        "UPDATE queues SET message_rows ="
        " (SELECT count(*) FROM messages WHERE messages.queue_id = queues.id)"
    )


def downgrade() -> None:
    """Downgrade the schema (the counters are dropped)."""
    op.create_index(op.f("ix_claims_expires_at"), "claims", ["expires_at"])
    op.create_index(op.f("ix_claims_queue_id"), "claims", ["queue_id"])
    op.drop_index(op.f("ix_claims_queue_id_expires_at"), table_name="claims")
    op.create_index(op.f("ix_messages_expires_at"), "messages", ["expires_at"])
    op.drop_index(op.f("ix_messages_queue_id_claim_expires"), table_name="messages")
    op.drop_index(op.f("ix_messages_queue_id_expires_at"), table_name="messages")
    with op.batch_alter_table("queues", table_kwargs=KEEP) as batch:
        batch.drop_column("message_rows")
    op.drop_table("queue_counters")
