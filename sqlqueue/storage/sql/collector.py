"""The expiry collector: expired rows deleted in short transactions, beside live traffic.

A deep queue can hold a million expired messages. Deleting them must not
make a producer of the same queue (or any other) wait:

* Rows are found queue by queue over the ``(queue_id, expires_at)`` indexes,
  in ``expires_at`` order, continuing after the last batch's largest expiry
  (a keyset: no batch re-reads the index entries its predecessors left dead,
  which PostgreSQL keeps until a VACUUM).
* Each batch is one transaction sized to hold its locks about
  ``BATCH_SECONDS``: it starts at ``StorageOptions.gc_batch`` rows and
  shrinks or grows (by at most half or double per batch) with the time the
  previous one spent inside its transaction, commit included (waiting to
  begin it does not count: a busy database must not starve the collector
  into tiny batches).
* At most ``StorageOptions.gc_rate`` rows a second (0: no cap): after a
  batch that put the pass ahead of that rate, the collector sleeps until it
  is back on it, so deleting a million rows cannot take the database's
  CPU and disk from producers for minutes. On SQLite, whose writers take
  turns, the writers of one process queue in arrival order
  (``storage/sql/writers.py``): a producer waits for at most the batch
  running when it came.
* Rows are taken with ``FOR UPDATE SKIP LOCKED`` where the database has it,
  so several collectors (serve workers) share the work without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlqueue.observe.metrics import CLAIMS_EXPIRED, MESSAGES_EXPIRED
from sqlqueue.storage.base import GcProgress
from sqlqueue.storage.sql import counters, tally
from sqlqueue.storage.sql import deliveries as outbox
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.tables import claims, messages, queues, subscriptions

logger = logging.getLogger(__name__)

BATCH_SECONDS = 0.02
"""How long one collector transaction should hold its locks."""
MIN_BATCH = 100
"""Rows; the smallest batch, however slow the database."""

_PROBES = {
    table: sa.select(sa.func.min(table.c.expires_at)).where(
        table.c.queue_id == sa.bindparam("p_queue")
    )
    for table in (messages, claims)
}
"""The earliest expiry of a queue's rows: one descent of (queue_id, expires_at).

PERF: not ``… AND expires_at <= now LIMIT 1``: when statistics promise many
expired rows, PostgreSQL plans that as a sequential scan that stops at the
first match, which reads the whole table once the rows are gone."""


_EXPIRED = {messages.name: MESSAGES_EXPIRED, claims.name: CLAIMS_EXPIRED}
"""The counter of each table whose rows gc removes as expired."""
_BACKLOG = {
    table: sa.select(sa.func.count())
    .select_from(table)
    .where(table.c.queue_id == sa.bindparam("p_queue"), table.c.expires_at <= sa.bindparam("p_now"))
    for table in (messages, claims)
}
_EXPIRED_SUBSCRIPTIONS = (
    sa.select(sa.func.count())
    .select_from(subscriptions)
    .where(subscriptions.c.expires_at <= sa.bindparam("p_now"))
)


def _nobody(removed: int) -> None:
    """No one to tell about gc's progress."""


def expired_queues(conn: Connection, now: int) -> list[tuple[sa.Table, int]]:
    """(table, queue id) of every queue with expired messages or claims.

    Not a tombstone (no rows) nor a move's staged copy (storage/sql/moves.py):
    the move compares that copy with the source's rows, and it must not
    lose a row the source still has (a claim may extend its life).
    """
    found = []
    live = sa.select(queues.c.id).where(queues.c.moved_to.is_(None)).order_by(queues.c.id)
    for queue_id in conn.execute(live).scalars():
        for table, probe in _PROBES.items():
            earliest = conn.execute(probe, {"p_queue": queue_id}).scalar()
            if earliest is not None and earliest <= now:
                found.append((table, queue_id))
    return found


def pause(removed: int, elapsed: float, rate: float) -> float:
    """Seconds to sleep so that ``removed`` rows in ``elapsed`` seconds keep to
    ``rate`` rows a second (0: no cap)."""
    if rate <= 0:
        return 0.0
    return max(0.0, removed / rate - elapsed)


def next_size(size: int, seconds: float, limit: int) -> int:
    """The next batch's rows: scaled toward ``BATCH_SECONDS``, within half and double,
    at least ``MIN_BATCH`` and at most ``limit`` (``gc_batch``)."""
    wanted = int(size * BATCH_SECONDS / max(seconds, 1e-4))
    return min(limit, max(MIN_BATCH, size // 2, min(wanted, size * 2)))


class Collector:
    """Deletes expired messages, claims, subscriptions and finished deliveries."""

    def __init__(self, db: Database, batch: int, rate: float = 0.0) -> None:
        """``batch``: rows of the first (and largest) batch; ``rate``: rows a second
        at most over one ``collect`` pass (0: no cap)."""
        self._db = db
        self._limit = batch
        self._rate = rate
        self._told: GcProgress = _nobody
        self._pace = (time.monotonic(), 0)
        """(when this pass started, rows it removed): what ``rate`` is kept against."""

    def collect(self, progress: GcProgress | None = None) -> int:
        """One pass over every expired row as of now; how many rows went.

        ``progress`` is told the rows of each committed batch.
        """
        self._told = progress or _nobody
        self._pace = (time.monotonic(), 0)
        now = self._db.now_ms()
        removed = 0
        for table, queue_id in self._db.run(lambda c: expired_queues(c, now), write=False):
            removed += self._expired(table, now, queue_id)
        removed += self._expired(subscriptions, now, None)
        removed += self._batches(lambda c, size: outbox.gc_batch(c, now, size))
        return removed

    def backlog(self) -> int:
        """How many rows ``collect`` would remove now (index ranges the size of the backlog)."""
        now = self._db.now_ms()

        def work(conn: Connection) -> int:
            found = sum(
                conn.execute(_BACKLOG[table], {"p_queue": queue_id, "p_now": now}).scalar_one()
                for table, queue_id in expired_queues(conn, now)
            )
            found += conn.execute(_EXPIRED_SUBSCRIPTIONS, {"p_now": now}).scalar_one()
            return int(found) + outbox.gc_backlog(conn, now)

        return self._db.run(work, write=False)

    def _expired(self, table: sa.Table, now: int, queue_id: int | None) -> int:
        after = [-(2**62)]

        def batch(conn: Connection, size: int) -> int:
            found = _take(self._db, conn, table, now, queue_id, after[0], size)
            if found:
                after[0] = max(expires for _key, expires in found)
                _delete(conn, table, queue_id, [key for key, _expires in found])
            return len(found)

        return self._batches(batch)

    def _batches(self, batch: Callable[[Connection, int], int]) -> int:
        """Run ``batch(conn, rows)`` in transactions until one takes fewer rows than asked."""
        removed, size = 0, self._limit
        began = [0.0]

        def timed(conn: Connection, rows: int) -> int:
            began[0] = time.monotonic()  # inside the transaction: after BEGIN's wait
            return batch(conn, rows)

        while True:
            done = self._db.run(lambda conn, n=size: timed(conn, n))  # type: ignore[misc]
            held = time.monotonic() - began[0]  # the batch and its commit
            removed += done
            self._told(done)
            started, paced = self._pace
            self._pace = (started, paced + done)
            if done < size:
                return removed
            size = next_size(size, held, self._limit)
            wait = pause(paced + done, time.monotonic() - started, self._rate)
            if wait:
                time.sleep(wait)


def _take(
    db: Database,
    conn: Connection,
    table: sa.Table,
    now: int,
    queue_id: int | None,
    after: int,
    size: int,
) -> list[tuple[int, int]]:
    """(key, expires_at) of up to ``size`` expired rows from expiry ``after`` on."""
    key = table.primary_key.columns.values()[0]
    expires = table.c.expires_at
    query = sa.select(key, expires).where(expires <= now, expires >= after).limit(size)
    if queue_id is not None:
        # Ordered by the index, so no plan can prefer a scan plus a sort.
        query = query.where(table.c.queue_id == queue_id).order_by(expires)
    return [(row[0], row[1]) for row in conn.execute(db.select_for_update(query))]


def _delete(conn: Connection, table: sa.Table, queue_id: int | None, keys: list[int]) -> None:
    key = table.primary_key.columns.values()[0]
    conn.execute(sa.delete(table).where(key.in_(keys)))
    if table is messages and queue_id is not None:
        counters.add(conn, queue_id, -len(keys))
    expired = _EXPIRED.get(table.name)
    if expired is not None:
        tally.count(conn, expired, len(keys))
