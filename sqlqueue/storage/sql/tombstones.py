"""Tombstones in one database: listing the settled ones and deleting one.

A moved queue's row stays in the pool it left, ``moved_to`` naming the pool
it went to (storage/sql/moves.py), for workers whose cached placement still
names this pool. Which tombstones may go is decided with the catalogue
(storage/pooling/tombstones.py); here they are only read and deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlqueue.domain.moves import Tombstone
from sqlqueue.storage.sql.tables import messages, queues

STAGED = "~staged"
"""``moved_to`` of a move's hidden pre-copy row (storage/sql/moves.py): not a tombstone."""


def settled(conn: Connection, before: int, limit: int) -> list[Tombstone]:
    """Up to ``limit`` tombstones last touched before ``before`` (ms), oldest first.

    PERF: no index on ``moved_to``; the queues table is scanned, as the
    collector's per-queue expiry probes already walk every queue row.
    """
    stmt = (
        sa.select(queues.c.project, queues.c.name, queues.c.moved_to, queues.c.updated_at)
        .where(
            queues.c.moved_to.is_not(None),
            queues.c.moved_to != STAGED,
            queues.c.updated_at < before,
        )
        .order_by(queues.c.updated_at)
        .limit(limit)
    )
    return [Tombstone(r.project, r.name, r.moved_to, r.updated_at) for r in conn.execute(stmt)]


def forget(conn: Connection, tombstone: Tombstone) -> bool:
    """Delete the tombstone if it is unchanged and holds no message row; whether it went."""
    row = conn.execute(
        sa.select(queues.c.id)
        .where(
            queues.c.project == tombstone.project,
            queues.c.name == tombstone.queue,
            queues.c.moved_to == tombstone.pool,
            queues.c.updated_at == tombstone.since,
        )
        .with_for_update()
    ).first()
    if row is None:
        return False
    if conn.execute(sa.select(messages.c.id).where(messages.c.queue_id == row.id).limit(1)).first():
        return False  # never strand a row (a tombstone keeps none; be sure)
    conn.execute(sa.delete(queues).where(queues.c.id == row.id))
    return True
