"""Moving a live queue from one pool's database to another's.

The move, in three databases (source pool S, target pool T, catalogue C):

1. C: journal the move (``moves`` row). A second move of the queue is refused.
2. S: lock the queue row (``FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``) and
   read-lock every message row of the queue, then read its claims,
   subscriptions and pending notifications. From here writers of the queue
   wait (posts on the queue row, deletes and claim updates on the message
   rows); claimers skip the locked rows and find nothing.
3. T: in one transaction, write the queue row (meta, FIFO counter,
   subscription hint), every message with its id, marker, claim id and
   expiry, the claims, the subscriptions and the pending notifications;
   commit.
4. S: delete the queue's rows and turn its queue row into a tombstone
   (``moved_to = T``); commit. The writers that waited wake up, meet the
   tombstone and raise ``QueueMoved``; the pooled store runs them again on T.
5. C: point the catalogue at T, delete the journal row.

Crash analysis (``resume`` decides by looking at S, not at the journal):
S's queue row a tombstone naming T means step 4 committed, so the move is
completed (catalogue to T). Anything else means S still holds the queue,
so whatever T got is replaced by a tombstone naming S (a worker that still
routes to T then follows to S). The write pause is steps 2 to 4: it grows
with the queue's rows (the copy happens inside it).

Message ids are database keys, kept as they are so that clients' ids and
claims go on working: a move whose ids are already taken in T is refused,
and T's key sequence is raised past the moved ids (PostgreSQL; MySQL and
SQLite raise theirs on an explicit insert).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sqlqueue import errors
from sqlqueue.domain.moves import MoveResult, StepHook
from sqlqueue.storage.base import DataDriver
from sqlqueue.storage.sql import counters
from sqlqueue.storage.sql.catalogue import SqlCatalogueController
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import WRITE_OPTION
from sqlqueue.storage.sql.errors import wrap_db_errors
from sqlqueue.storage.sql.queues import create_queue
from sqlqueue.storage.sql.tables import (
    claims,
    deliveries,
    id_blocks,
    messages,
    moves,
    queues,
    subscriptions,
)

logger = logging.getLogger(__name__)

PENDING = 0
"""``deliveries.state`` of a notification not yet delivered."""
BLOCK_BITS = 40
"""Message ids per pool block: 2**40 (a block is never outgrown in practice)."""
INHERITS_KEYS = ("mysql", "mariadb", "sqlite")
"""Databases whose key counter jumps past explicitly inserted keys."""
CHUNK = 500


@dataclass(frozen=True)
class QueueState:
    """Everything of one queue that a move carries, read under the source's locks."""

    queue: Row[Any]
    messages: Sequence[Row[Any]]
    claims: Sequence[Row[Any]]
    subscriptions: Sequence[Row[Any]]
    notifications: Sequence[Row[Any]]


def _named(table: sa.Table, project: str, queue: str) -> list[Any]:
    return [table.c.project == project, table.c.name == queue]


def _lock_queue(conn: Connection, project: str, queue: str) -> Row[Any] | None:
    stmt = sa.select(queues).where(*_named(queues, project, queue)).with_for_update()
    return conn.execute(stmt).first()


def read_state(conn: Connection, project: str, queue: str, pool: str, now: int) -> QueueState:
    """Lock the queue and its message rows in ``conn`` (the source) and read them.

    A queue placed on the pool but never written there (a dead-letter queue
    placed beside its source) is created empty first, so that it too leaves
    a tombstone behind.

    :raises MoveRefused: the source holds a tombstone of the queue.
    """
    row = _lock_queue(conn, project, queue)
    if row is None:
        create_queue(conn, project, queue, {}, now)
        row = _lock_queue(conn, project, queue)
    if row is None or row.moved_to is not None:
        raise errors.MoveRefused(f"Queue {queue} is not in pool {pool}")
    held = sa.select(messages).where(messages.c.queue_id == row.id).order_by(messages.c.id)
    notified = sa.select(deliveries).where(
        deliveries.c.project == project,
        deliveries.c.queue == queue,
        deliveries.c.state == PENDING,
    )
    subscribed = sa.select(subscriptions).where(
        subscriptions.c.project == project, subscriptions.c.source == queue
    )
    return QueueState(
        row,
        conn.execute(held.with_for_update()).all(),
        conn.execute(sa.select(claims).where(claims.c.queue_id == row.id)).all(),
        conn.execute(subscribed).all(),
        conn.execute(notified.order_by(deliveries.c.id)).all(),
    )


def _values(row: Row[Any], **changes: Any) -> dict[str, Any]:
    return {**row._asdict(), **changes}


def _insert(conn: Connection, table: sa.Table, values: list[dict[str, Any]]) -> None:
    for start in range(0, len(values), CHUNK):
        conn.execute(sa.insert(table), values[start : start + CHUNK])


def _taken_ids(conn: Connection, keys: Sequence[int]) -> list[int]:
    found: list[int] = []
    for start in range(0, len(keys), CHUNK):
        chunk = list(keys[start : start + CHUNK])
        found += conn.execute(sa.select(messages.c.id).where(messages.c.id.in_(chunk))).scalars()
    return found


def jump_keys(conn: Connection, start: int) -> None:
    """Make this database issue message keys above ``start`` (which is above every key).

    PostgreSQL moves the sequence, MySQL the table's AUTO_INCREMENT (DDL,
    so in a transaction of its own), SQLite the AUTOINCREMENT counter.
    """
    backend = conn.dialect.name
    if backend == "postgresql":
        seq = "pg_get_serial_sequence('messages', 'id')"
        conn.execute(sa.text(f"SELECT setval({seq}, :start)"), {"start": start})
    elif backend == "sqlite":
        counter = {"start": start}
        bumped = conn.execute(
            sa.text("UPDATE sqlite_sequence SET seq = :start WHERE name = 'messages'"), counter
        )
        if not bumped.rowcount:
            conn.execute(
                sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', :start)"),
                counter,
            )
    else:
        conn.exec_driver_sql(f"ALTER TABLE messages AUTO_INCREMENT = {int(start) + 1}")


def _clear(conn: Connection, project: str, queue: str) -> None:
    """Delete the queue of that name and what hangs off it (a tombstone included)."""
    row = conn.execute(sa.select(queues.c.id).where(*_named(queues, project, queue))).first()
    if row is not None:
        conn.execute(sa.delete(messages).where(messages.c.queue_id == row.id))
        conn.execute(sa.delete(claims).where(claims.c.queue_id == row.id))
        counters.forget(conn, row.id)
        conn.execute(sa.delete(queues).where(queues.c.id == row.id))
    conn.execute(
        sa.delete(subscriptions).where(
            subscriptions.c.project == project, subscriptions.c.source == queue
        )
    )
    conn.execute(
        sa.delete(deliveries).where(
            deliveries.c.project == project,
            deliveries.c.queue == queue,
            deliveries.c.state == PENDING,
        )
    )


def write_copy(conn: Connection, state: QueueState, pool: str) -> None:
    """Write the queue into ``conn`` (the target), replacing a tombstone there.

    :raises MoveRefused: a live queue of that name, or one of the message ids, is there.
    """
    project, queue = state.queue.project, state.queue.name
    there = _lock_queue(conn, project, queue)
    if there is not None and there.moved_to is None:
        raise errors.MoveRefused(f"Pool {pool} already has a queue {queue}")
    keys = [m.id for m in state.messages]
    taken = _taken_ids(conn, keys)
    if taken:
        raise errors.MoveRefused(
            f"Message ids of queue {queue} are in use in pool {pool} ({len(taken)}, "
            f"e.g. {taken[0]}): the queue cannot keep its ids there"
        )
    _clear(conn, project, queue)
    fresh = _values(state.queue, message_rows=len(keys), moved_to=None)
    del fresh["id"]
    inserted = conn.execute(sa.insert(queues).values(fresh)).inserted_primary_key
    assert inserted is not None
    queue_id = inserted[0]
    _insert(conn, messages, [_values(m, queue_id=queue_id) for m in state.messages])
    _insert(conn, claims, [_values(c, queue_id=queue_id) for c in state.claims])
    _insert(conn, subscriptions, [_values(s) for s in state.subscriptions])
    notices = [_values(d) for d in state.notifications]
    for notice in notices:
        del notice["id"]
    _insert(conn, deliveries, notices)


def retire(conn: Connection, state: QueueState, target: str, now: int) -> None:
    """Delete the moved rows from ``conn`` (the source) and leave a tombstone naming ``target``."""
    queue_id = state.queue.id
    gone = conn.execute(sa.delete(messages).where(messages.c.queue_id == queue_id)).rowcount
    if gone != len(state.messages):  # cannot happen while the locks hold; never lose one
        raise errors.StorageUnavailable("The queue changed during its move; nothing was moved")
    conn.execute(sa.delete(claims).where(claims.c.queue_id == queue_id))
    counters.forget(conn, queue_id)
    project, queue = state.queue.project, state.queue.name
    conn.execute(
        sa.delete(subscriptions).where(
            subscriptions.c.project == project, subscriptions.c.source == queue
        )
    )
    moved = [d.id for d in state.notifications]
    for start in range(0, len(moved), CHUNK):
        chunk = moved[start : start + CHUNK]
        conn.execute(sa.delete(deliveries).where(deliveries.c.id.in_(chunk)))
    conn.execute(
        sa.update(queues)
        .where(queues.c.id == queue_id)
        .values(moved_to=target, message_rows=0, updated_at=now)
    )


def _tombstone(conn: Connection, project: str, queue: str, pool: str, now: int) -> None:
    """Leave (only) a tombstone naming ``pool`` for the queue in ``conn``."""
    _clear(conn, project, queue)
    values = {
        "project": project,
        "name": queue,
        "meta": "{}",
        "next_marker": 1,
        "message_rows": 0,
        "created_at": now,
        "updated_at": now,
        "moved_to": pool,
    }
    conn.execute(sa.insert(queues).values(values))


class SqlMover:
    """Moves queues between pools and resolves interrupted moves.

    Args:
        control: the catalogue database (journal and catalogue).
        drivers: the data driver of a pool, by name (``Router.driver``).
        settle_seconds: how long other workers may route by a cached
            placement (``catalogue_cache_seconds``): a queue is not moved
            back into a pool it left less than this long ago.
        hook: called with each step of ``domain.moves.STEPS`` (tests stop there).
    """

    def __init__(
        self,
        control: Database,
        drivers: Callable[[str], DataDriver],
        *,
        settle_seconds: float,
        hook: StepHook | None = None,
    ) -> None:
        self._control = control
        self._catalogue = SqlCatalogueController(control)
        self._drivers = drivers
        self._settle_ms = int(settle_seconds * 1000)
        self._hook = hook or (lambda step: None)

    def adopt(self, pool: str) -> None:
        """Give pool ``pool`` a block of message ids unless it has one (on registration)."""
        if self._block(pool) is None:
            self._new_block(pool, self._database(pool))

    def _database(self, pool: str) -> SqlDataDriver:
        driver = self._drivers(pool)
        if not isinstance(driver, SqlDataDriver):
            raise errors.MoveRefused(f"Pool {pool} is not a SQL database")
        return driver

    def _sql(self, pool: str) -> SqlDataDriver:
        driver = self._database(pool)
        if not driver.options.fifo:
            raise errors.MoveRefused(f"Pool {pool} is not FIFO: its queues cannot be moved")
        return driver

    def move(self, project: str, queue: str, source: str, target: str) -> MoveResult:
        """Move the queue from pool ``source`` to pool ``target``.

        :raises MoveRefused: a move of the queue is pending, the queue is not
            in ``source``, ``target`` has a queue of that name or its ids.
        :raises StorageUnavailable: a database failed (the move is resolved,
            or left journaled for ``resume`` if that failed too).
        """
        if source == target:
            raise errors.MoveRefused(f"Queue {queue} is in pool {target} already")
        src, dst = self._sql(source), self._sql(target)
        self._wait_settled(dst, project, queue, target)
        for pool in (source, target):
            self.adopt(pool)  # pools registered before moves existed
        self._journal(project, queue, source, target)
        self._hook("journaled")
        progress: list[str] = []
        try:
            count, pause = self._switch(src, dst, (project, queue), (source, target), progress)
        except BaseException:
            if progress:  # the target committed its copy: resolve by the source
                self._resolve(project, queue, source, target)
            else:  # nothing was written anywhere
                self._forget(project, queue)
            raise
        self._hook("source_committed")
        self._finish(project, queue, target)
        logger.info("moved queue %s/%s from %s to %s", project, queue, source, target)
        return MoveResult(project, queue, source, target, "moved", count, pause)

    def _switch(
        self,
        src: SqlDataDriver,
        dst: SqlDataDriver,
        name: tuple[str, str],
        pools: tuple[str, str],
        progress: list[str],
    ) -> tuple[int, float]:
        """Steps 2-4; (messages moved, write pause in ms, from asking for the lock).

        ``pools``: (source, target). ``progress`` gets "target_committed"
        once the target has the copy.
        """
        source, target = pools
        with wrap_db_errors(), src.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                asked = time.perf_counter()
                state = read_state(conn, *name, source, src.db.now_ms())
                self._hook("source_locked")
                dst.db.run(lambda c: write_copy(c, state, target))
                progress.append("target_committed")
                self._hook("target_committed")
                retire(conn, state, target, src.db.now_ms())
            pause = (time.perf_counter() - asked) * 1000
        return len(state.messages), pause

    def _wait_settled(self, dst: SqlDataDriver, project: str, queue: str, pool: str) -> None:
        """Refuse a target holding the queue; wait until no worker can still
        route to the target by a stale cached placement (a recent tombstone).

        A live queue of the name in the target is refused here, before the
        journal: so a live row there during a journaled move is the move's copy.
        """
        stmt = sa.select(queues.c.updated_at, queues.c.moved_to).where(
            *_named(queues, project, queue)
        )
        row = dst.db.run(lambda c: c.execute(stmt).first(), write=False)
        if row is None:
            return
        if row.moved_to is None:
            raise errors.MoveRefused(f"Pool {pool} already has a queue {queue}")
        wait = row.updated_at + self._settle_ms - dst.db.now_ms()
        if wait > 0:
            logger.info("waiting %d ms for caches of the earlier move to expire", wait)
            time.sleep(wait / 1000)

    def _journal(self, project: str, queue: str, source: str, target: str) -> None:
        values = {
            "project": project,
            "queue": queue,
            "source": source,
            "target": target,
            "started_at": self._control.now_ms(),
        }
        try:
            self._control.run(lambda c: c.execute(sa.insert(moves).values(values)))
        except errors.StorageUnavailable:
            raise
        except sa.exc.IntegrityError as ex:
            raise errors.MoveRefused(
                f"A move of queue {queue} is in progress (sqlqueue queue move --resume)"
            ) from ex

    def _block(self, pool: str) -> int | None:
        stmt = sa.select(id_blocks.c.block).where(id_blocks.c.pool == pool)
        found: int | None = self._control.run(lambda c: c.execute(stmt).scalar(), write=False)
        return found

    def _new_block(self, pool: str, driver: SqlDataDriver) -> None:
        """Give ``pool`` a block above every block given, and move its key counter there.

        A pool's ids then never meet another pool's: the ids a pool issued
        before it had a block (block 0) are the only ones a move can find
        taken (and then refuses).
        """
        top = sa.select(sa.func.coalesce(sa.func.max(id_blocks.c.block), 0))

        def claim(conn: Connection) -> int:
            block = int(conn.execute(top).scalar_one()) + 1
            conn.execute(sa.delete(id_blocks).where(id_blocks.c.pool == pool))
            conn.execute(sa.insert(id_blocks).values(pool=pool, block=block))
            return block

        for attempt in range(5):
            try:
                block = self._control.run(claim)
                break
            except sa.exc.IntegrityError:  # another mover took that block
                if attempt == 4:
                    raise
        driver.db.run(lambda c: jump_keys(c, block << BLOCK_BITS))
        logger.info("pool %s issues message ids from block %d", pool, block)

    def _finish(self, project: str, queue: str, target: str) -> None:
        dst = self._sql(target)
        if dst.db.backend in INHERITS_KEYS:  # the moved keys pushed its counter
            self._new_block(target, dst)
        try:
            self._catalogue.update(project, queue, target)
        except errors.QueueNotMapped:
            pass  # deleted meanwhile (through the tombstone): nothing to point
        self._hook("catalogued")
        self._forget(project, queue)

    def _forget(self, project: str, queue: str) -> None:
        stmt = sa.delete(moves).where(moves.c.project == project, moves.c.queue == queue)
        self._control.run(lambda c: c.execute(stmt))

    def _resolve(self, project: str, queue: str, source: str, target: str) -> str:
        """Complete or roll back a move by what the source holds; the outcome."""
        src, dst = self._sql(source), self._sql(target)
        stmt = sa.select(queues.c.moved_to).where(*_named(queues, project, queue))
        moved_to = src.db.run(lambda c: c.execute(stmt).scalar(), write=False)
        if moved_to == target:
            self._finish(project, queue, target)
            return "completed"
        now = dst.db.now_ms()
        dst.db.run(lambda c: _tombstone(c, project, queue, source, now))
        self._forget(project, queue)
        return "rolled back"

    def resume(self) -> list[MoveResult]:
        """Complete or roll back every journaled move (interrupted by a crash)."""
        pending = self._control.run(lambda c: c.execute(sa.select(moves)).all(), write=False)
        done = []
        for row in pending:
            outcome = self._resolve(row.project, row.queue, row.source, row.target)
            logger.info("move of %s/%s to %s: %s", row.project, row.queue, row.target, outcome)
            done.append(MoveResult(row.project, row.queue, row.source, row.target, outcome))
        return done
