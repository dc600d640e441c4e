"""topics: queue-name columns hold 65-character keys

Topics are stored like queues under keys that no queue name can be: the
topic's name behind ``~`` (sqlqueue/domain/namespaces.py), so a 64-character
topic name needs a 65-character key in every column naming a queue:
``queues.name``, ``catalogue.queue``, ``deliveries.queue`` and
``subscriptions.source``. Downgrading deletes every topic with its messages,
claims, counters, subscriptions, outbox rows and placements (the older
schema has no room for their keys).

Revision ID: 0007
Revises: 0005 (rechained after 0006 when branches merge)
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's batch mode rebuilds the table from reflection, which does not see
# AUTOINCREMENT: say it again, or ids could be reused.
KEEP = {"sqlite_autoincrement": True}
COLUMNS = (
    ("queues", "name", True, KEEP),
    ("catalogue", "queue", True, {}),
    ("deliveries", "queue", True, KEEP),
    ("subscriptions", "source", False, {}),
)
"""(table, column, byte-wise collation on PostgreSQL, batch table options)."""
TOPIC_QUEUES = "SELECT id FROM queues WHERE name >= '~'"


def _name(length: int, collated: bool) -> sa.types.TypeEngine[str]:
    if collated:
        return sa.String(length).with_variant(
            postgresql.VARCHAR(length, collation="C"), "postgresql"
        )
    return sa.String(length)


def _resize(length: int, was: int) -> None:
    for table, column, collated, options in COLUMNS:
        with op.batch_alter_table(table, table_kwargs=options) as batch:
            batch.alter_column(
                column,
                type_=_name(length, collated),
                existing_type=_name(was, collated),
                existing_nullable=False,
            )


def upgrade() -> None:
    """Widen the queue-name columns to 65 characters."""
    _resize(65, 64)


def _delete_topics() -> None:
    for table in ("messages", "claims", "queue_counters"):
        op.execute(f"DELETE FROM {table} WHERE queue_id IN ({TOPIC_QUEUES})")
    op.execute("DELETE FROM deliveries WHERE queue >= '~'")
    op.execute("DELETE FROM subscriptions WHERE source >= '~'")
    op.execute("DELETE FROM catalogue WHERE queue >= '~'")
    op.execute("DELETE FROM queues WHERE name >= '~'")


def downgrade() -> None:
    """Delete every topic, then narrow the columns back to 64 characters."""
    _delete_topics()
    _resize(64, 65)
