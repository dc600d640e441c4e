"""the claim-id index holds claimed messages only (PostgreSQL, SQLite)

``ix_messages_claim_id`` held an entry for every message, most of them NULL
(never claimed). Every post inserted one, every claim moved one out of the
NULL run at the head of a deep queue and every delete removed one: on
SQLite a claim at a queue of 1M messages cost 2-10x a claim at 1k, mostly
in that index (docs/performance.md, depth). Claim ids are only ever looked
up by value, which implies NOT NULL, so a partial index ``WHERE claim_id IS
NOT NULL`` serves every lookup and holds only the messages under a claim.
MySQL/MariaDB has no partial indexes: its index stays as it was.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIMED = sa.text("claim_id IS NOT NULL")
PARTIAL = ("postgresql", "sqlite")


def upgrade() -> None:
    """Rebuild the index as a partial one where the database has them."""
    if op.get_bind().dialect.name not in PARTIAL:
        return
    op.drop_index("ix_messages_claim_id", table_name="messages")
    op.create_index(
        "ix_messages_claim_id",
        "messages",
        ["claim_id"],
        postgresql_where=CLAIMED,
        sqlite_where=CLAIMED,
    )


def downgrade() -> None:
    """Back to an index over every message."""
    if op.get_bind().dialect.name not in PARTIAL:
        return
    op.drop_index("ix_messages_claim_id", table_name="messages")
    op.create_index("ix_messages_claim_id", "messages", ["claim_id"])
