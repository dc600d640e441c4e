"""Message rows whose body is in the blob store: deletes that say so, and gc's question.

A delete of a queue's messages must learn the pointers of the rows it
removed, at no cost for rows without one: the delete statements here return
the pointer (NULL for a body kept inline) in the same statement, on
PostgreSQL within the counted delete (``counters.counted_delete``), on
SQLite and MariaDB by ``DELETE ... RETURNING``. Only MySQL, which has no
``RETURNING``, reads the pointers first, with one more statement, and only
when a blob store is configured.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from sqlqueue.domain.bodies import BLOB, blob_pointer
from sqlqueue.domain.policy import QueuePolicy
from sqlqueue.storage.blobs import BlobStore, discard
from sqlqueue.storage.sql import hot, statements
from sqlqueue.storage.sql.database import Database, loads
from sqlqueue.storage.sql.deliveries import PENDING
from sqlqueue.storage.sql.tables import deliveries, messages, queue_counters, queues

POINTER = sa.case(
    (sa.func.substr(messages.c.body, 1, len(BLOB)) == BLOB, messages.c.body),
    else_=sa.null(),
).label("blob")
"""The row's pointer, or NULL when its body is inline."""


def counted_returning(delete: sa.Delete) -> sa.Select[Any]:
    """PostgreSQL: ``delete`` and its count in one statement, returning a row per
    deleted message with its pointer (``counters.counted_delete`` plus the pointers)
    and whether a pending notification still carries it (``notified``; looked up
    only for rows with a pointer)."""
    gone = delete.returning(messages.c.queue_id, POINTER).cte("gone")
    shard: sa.BindParameter[int] = sa.bindparam("p_shard")
    removed = sa.select(gone.c.queue_id, shard, -sa.func.count()).group_by(gone.c.queue_id)
    insert = postgresql.insert(queue_counters).from_select(["queue_id", "shard", "delta"], removed)
    upsert = insert.on_conflict_do_update(
        index_elements=[queue_counters.c.queue_id, queue_counters.c.shard],
        set_={"delta": queue_counters.c.delta + insert.excluded.delta},
    )
    counted = upsert.returning(queue_counters.c.queue_id).cte("counted")
    pending = sa.exists().where(deliveries.c.state == PENDING, deliveries.c.body == gone.c.blob)
    notified = sa.case((gone.c.blob.is_(None), sa.false()), else_=pending).label("notified")
    return sa.select(gone.c.blob, notified).add_cte(counted)


DELETE_CLAIMED = statements.DELETE_CLAIMED.returning(POINTER)
DELETE_UNCLAIMED = statements.DELETE_UNCLAIMED.returning(POINTER)
DELETE_CLAIMED_COUNTED = counted_returning(statements.DELETE_CLAIMED)
DELETE_UNCLAIMED_COUNTED = counted_returning(statements.DELETE_UNCLAIMED)


def pointers(rows: Sequence[Any]) -> list[str]:
    """The blob keys of deleted rows (``blob`` column; NULL for inline bodies)."""
    return [row.blob[len(BLOB) :] for row in rows if row.blob is not None]


def unnotified(rows: Sequence[Any]) -> list[str]:
    """The blob keys of deleted rows that no pending notification carries
    (rows of ``counted_returning``: it looked)."""
    return [row.blob[len(BLOB) :] for row in rows if row.blob is not None and not row.notified]


def read_pointers(conn: Connection, delete: Any, params: dict[str, Any]) -> list[str]:
    """The blob keys of the rows ``delete`` will remove, locked until it does (MySQL,
    which cannot return them): the same conditions, ``FOR UPDATE``."""
    query = sa.select(POINTER).where(delete.whereclause).with_for_update()
    return pointers(conn.execute(query, params).all())


def notified(conn: Connection, keys: Sequence[str]) -> set[str]:
    """Which of the blob ``keys`` pending notifications still carry (keep those)."""
    if not keys:
        return set()
    texts = [blob_pointer(key) for key in keys]
    query = sa.select(deliveries.c.body).where(
        deliveries.c.state == PENDING, deliveries.c.body.in_(texts)
    )
    return {text[len(BLOB) :] for text in conn.execute(query).scalars()}


def queue_pointers(conn: Connection, queue_id: int) -> list[str]:
    """The blob keys of every message of a queue (before the queue is deleted)."""
    query = sa.select(POINTER).where(
        messages.c.queue_id == queue_id, sa.func.substr(messages.c.body, 1, len(BLOB)) == BLOB
    )
    return pointers(conn.execute(query).all())


def discard_deleted(db: Database, store: BlobStore | None, keys: Sequence[str]) -> None:
    """Delete the blobs of deleted rows (after their commit), unless a pending
    notification still carries them (gc takes those once it is sent)."""
    if keys and store is not None:
        kept = db.run(lambda conn: notified(conn, keys), write=False)
        discard(store, [key for key in keys if key not in kept])


def referenced(
    conn: Connection, queue: tuple[str, str, Any], keys: Sequence[str], now: int
) -> dict[str, int]:
    """Blob keys live messages or pending notifications of a queue point to -> until (ms).

    ``queue``: (project, name, its FIND_QUEUE row). Messages dead-lettered from the
    queue (claims move them within the pool) are looked for in its dead-letter
    queues too, as their policies name them now.
    """
    project, name, row = queue
    texts = [blob_pointer(key) for key in keys]
    live = sa.select(messages.c.body, messages.c.expires_at).where(
        messages.c.queue_id.in_(_with_dead_letters(conn, project, name, row)),
        messages.c.expires_at > now,
        messages.c.body.in_(texts),
    )
    found = {r.body[len(BLOB) :]: r.expires_at for r in conn.execute(live)}
    pending = sa.select(deliveries.c.body).where(
        deliveries.c.state == PENDING,
        deliveries.c.project == project,
        deliveries.c.queue == name,
        deliveries.c.body.in_(texts),
    )
    for text in conn.execute(pending).scalars():
        found.setdefault(text[len(BLOB) :], now)
    return found


DEAD_LETTER_HOPS = 4


def _with_dead_letters(conn: Connection, project: str, name: str, row: Any) -> list[int]:
    """The queue's id and those of its dead-letter queues in this pool (a chain, 4 at most)."""
    found = [row.id]
    for _ in range(DEAD_LETTER_HOPS):
        target = QueuePolicy.of(loads(row.meta)).dead_letters_to(name)
        if target is None:
            break
        query = sa.select(queues.c.id, queues.c.meta).where(
            queues.c.project == project, queues.c.name == target, queues.c.moved_to.is_(None)
        )
        row, name = conn.execute(query).first(), target
        if row is None or row.id in found:
            break
        found.append(row.id)
    return found


@functools.cache
def delete_keys(count: int) -> Any:
    """``statements.delete_keys`` returning each deleted row's pointer."""
    return statements.delete_keys(count).returning(POINTER)


def run_delete(conn: Connection, stmt: Any, params: dict[str, Any]) -> tuple[int, list[str]]:
    """Run a pointer-returning delete; (rows deleted, their blob keys)."""
    done = hot.execute(conn, stmt, params)
    return len(done.rows), pointers(done.rows)
