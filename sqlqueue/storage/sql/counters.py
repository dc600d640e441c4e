"""Per-queue message-row counters: queue stats in time independent of depth.

How many message rows a queue has is ``queues.message_rows`` plus the sum of
the ``delta`` of its ``queue_counters`` rows, kept exact by the transactions
that add or remove rows:

* a post adds to ``message_rows`` in the statement that bumps the FIFO
  counter (the queue row is locked by that bump anyway, so it costs
  nothing); so does dead-lettering, which posts into the dead-letter queue;
* everything else that adds or removes rows (delete, bulk delete, pop,
  dead-lettering out of a queue, the expiry clean-up, a non-FIFO post's
  insert) adds to one of ``SHARDS`` shard rows chosen at random, so
  concurrent consumers of one queue rarely wait on the same row lock.

Time-based state is not counted, it is looked up over small index ranges:

* a message expires with no write: stats subtract the queue's expired rows
  the clean-up has not removed yet, counted over ``(queue_id, expires_at)``
  up to ``now`` (as many entries as the clean-up is behind, not the queue's
  depth);
* a claim expires with no write: claimed messages are counted over
  ``(queue_id, claim_expires)`` after ``now``, i.e. over the messages under a
  live claim only (the index holds only messages ever claimed, where the
  database has partial indexes). A claimed message never expires before its claim
  (claiming extends shorter lifetimes to the claim's end plus grace), so an
  expired message is never counted as claimed.

So ``total``, ``claimed`` and ``free`` are exact at any depth; the cost of
``stats`` grows with the claimed and the not-yet-collected messages of the
queue, never with its free ones.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Row

from sqlqueue.storage.sql import hot
from sqlqueue.storage.sql.tables import messages, queue_counters, queues

SHARDS = 8
"""Shard rows per queue: enough to spread 8-16 concurrent consumers."""

_queue: sa.BindParameter[int] = sa.bindparam("p_queue")
_shard: sa.BindParameter[int] = sa.bindparam("p_shard")
_now: sa.BindParameter[int] = sa.bindparam("p_now")

ADD = (
    sa.update(queue_counters)
    .where(queue_counters.c.queue_id == _queue, queue_counters.c.shard == _shard)
    .values(delta=queue_counters.c.delta + sa.bindparam("p_delta"))
)

_delta = (
    sa.select(sa.func.coalesce(sa.func.sum(queue_counters.c.delta), 0))
    .where(queue_counters.c.queue_id == queues.c.id)
    .scalar_subquery()
)
_expired = (
    sa.select(sa.func.count())
    .select_from(messages)
    .where(messages.c.queue_id == queues.c.id, messages.c.expires_at <= _now)
    .scalar_subquery()
)
_claimed = (
    sa.select(sa.func.count())
    .select_from(messages)
    .where(
        messages.c.queue_id == queues.c.id,
        messages.c.claim_expires > _now,
        # Implied by the term above, written out so that SQLite (which cannot
        # tell for a bound ``now``) uses the partial index (tables.py).
        messages.c.claim_expires > sa.literal_column("0"),
    )
    .scalar_subquery()
)
COUNTS = sa.select(
    queues.c.id,
    queues.c.moved_to,
    queues.c.message_rows,
    queues.c.next_marker,
    _delta.label("delta"),
    _expired.label("expired"),
    _claimed.label("claimed"),
).where(queues.c.project == sa.bindparam("p_project"), queues.c.name == sa.bindparam("p_name"))
"""(id, moved_to, message_rows, next_marker, delta, expired, claimed) of one queue, at once."""


_rows = (queues.c.message_rows + sa.func.coalesce(_delta, 0)).label("rows")
DEEPEST = (
    sa.select(queues.c.project, queues.c.name, _rows)
    .where(queues.c.moved_to.is_(None))  # no tombstone nor staged pre-copy
    .order_by(_rows.desc(), queues.c.project, queues.c.name)
    .limit(sa.bindparam("p_limit"))
)
"""(project, name, rows) of the queues with the most message rows, every project."""


_SHARD_BITS = SHARDS.bit_length() - 1
assert 1 << _SHARD_BITS == SHARDS, "SHARDS is a power of two"


def shard() -> int:
    """A shard row to write to, at random (``0 <= shard < SHARDS``).

    PERF: ``random.getrandbits`` is one C call; ``random.randrange`` is three
    Python calls.
    """
    return random.getrandbits(_SHARD_BITS)


def add(conn: Connection, queue_id: int, delta: int) -> None:
    """Count ``delta`` message rows more (or fewer) for the queue.

    Runs in the caller's transaction, which must be the one that changed
    the rows. A shard row is created on first use.
    """
    if not delta:
        return
    params = {"p_queue": queue_id, "p_shard": shard(), "p_delta": delta}
    if hot.execute(conn, ADD, params).rowcount:
        return
    from sqlqueue.storage.sql.queues import insert_ignore  # queues imports this module

    row = {"queue_id": params["p_queue"], "shard": params["p_shard"], "delta": 0}
    insert_ignore(conn, queue_counters, row)
    hot.execute(conn, ADD, params)


_FIND_ID = sa.select(queues.c.id).where(
    queues.c.project == sa.bindparam("p_project"), queues.c.name == sa.bindparam("p_name")
)
_QUEUE_ID = _FIND_ID.scalar_subquery()
ADD_NAMED = (
    sa.update(queue_counters)
    .where(queue_counters.c.queue_id == _QUEUE_ID, queue_counters.c.shard == _shard)
    .values(delta=queue_counters.c.delta + sa.bindparam("p_delta"))
)


def add_named(conn: Connection, project: str, name: str, delta: int) -> None:
    """``add`` for a queue known by name (resolved in the statement)."""
    if not delta:
        return
    params = {"p_project": project, "p_name": name, "p_shard": shard(), "p_delta": delta}
    if hot.execute(conn, ADD_NAMED, params).rowcount:
        return
    queue_id = conn.execute(_FIND_ID, params).scalar()
    if queue_id is not None:
        add(conn, queue_id, delta)


def add_many(conn: Connection, deltas: Mapping[int, int]) -> None:
    """``add`` for several queues, in queue order (a stable lock order)."""
    for queue_id in sorted(deltas):
        add(conn, queue_id, deltas[queue_id])


def forget(conn: Connection, queue_id: int) -> None:
    """Drop a deleted queue's shard rows."""
    conn.execute(sa.delete(queue_counters).where(queue_counters.c.queue_id == queue_id))


def counts(conn: Connection, project: str, name: str, now: int) -> Any:
    """(id, moved_to, message_rows, next_marker, delta, expired, claimed) of a queue, or None."""
    params = {"p_project": project, "p_name": name, "p_now": now}
    return hot.execute(conn, COUNTS, params).first()


def deepest(conn: Connection, limit: int) -> list[Row[Any]]:
    """(project, name, rows) of the ``limit`` queues with the most message rows.

    One pass over the queues and their shard rows (SHARDS per queue at most):
    the cost grows with the number of queues, not with messages.
    """
    return list(conn.execute(DEEPEST, {"p_limit": limit}).all())


def counted_delete(delete: sa.Delete) -> sa.Insert:
    """PostgreSQL: ``delete`` and its count in one statement.

    ``WITH gone AS (DELETE … RETURNING queue_id) INSERT INTO queue_counters
    … ON CONFLICT DO UPDATE``: one atomic statement, so a delete can still
    run in autocommit with one round trip. Its rowcount is 1 when rows were
    deleted, 0 otherwise. The shard is the ``p_shard`` parameter.
    """
    gone = delete.returning(messages.c.queue_id).cte("gone")
    removed = sa.select(gone.c.queue_id, _shard, -sa.func.count()).group_by(gone.c.queue_id)
    insert = postgresql.insert(queue_counters).from_select(["queue_id", "shard", "delta"], removed)
    upsert = insert.on_conflict_do_update(
        index_elements=[queue_counters.c.queue_id, queue_counters.c.shard],
        set_={"delta": queue_counters.c.delta + insert.excluded.delta},
    )
    return upsert.add_cte(gone)
