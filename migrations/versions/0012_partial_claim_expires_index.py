"""the claim-expiry index holds claimed messages only (PostgreSQL, SQLite)

``ix_messages_queue_id_claim_expires`` had an entry for every message, most
of them ``claim_expires = 0`` (never claimed or released). A claim at the
head of a deep queue moved its ten entries out of a packed run of a million
zero entries to the far end of the queue's range: on SQLite that was most of
the remaining cost of a claim at 1M messages against one at 1k (UPDATE plus
commit, 0.57 ms against 0.15 ms, docs/performance.md, "SQLite claim 10 at
1M"). The index only serves stats' count of claimed messages (``claim_expires
> now``, which implies ``> 0``), so a partial index ``WHERE claim_expires > 0``
serves it and holds only the messages a claim ever held. MySQL/MariaDB has no
partial indexes: its index stays as it was.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIMED = sa.text("claim_expires > 0")
PARTIAL = ("postgresql", "sqlite")
NAME = "ix_messages_queue_id_claim_expires"


def upgrade() -> None:
    """Rebuild the index as a partial one where the database has them."""
    if op.get_bind().dialect.name not in PARTIAL:
        return
    op.drop_index(NAME, table_name="messages")
    op.create_index(
        NAME,
        "messages",
        ["queue_id", "claim_expires"],
        postgresql_where=CLAIMED,
        sqlite_where=CLAIMED,
    )


def downgrade() -> None:
    """Back to an index over every message."""
    if op.get_bind().dialect.name not in PARTIAL:
        return
    op.drop_index(NAME, table_name="messages")
    op.create_index(NAME, "messages", ["queue_id", "claim_expires"])
