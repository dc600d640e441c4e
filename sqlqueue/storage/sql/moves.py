"""Moving a live queue from one pool's database to another's.

The move, in three databases (source pool S, target pool T, catalogue C):

1. C: journal the move (``moves`` row). A second move of the queue is refused.
2. Pre-copy, no lock: S's message rows as they are now are written to T
   under a hidden staging queue row (``stage``). Then a catch-up round, no
   lock either: the changeable columns of S's rows (``STATE_COLUMNS``, no
   body) are compared with the staged ones and only the difference is
   written (``sync``), so the next step finds only a few milliseconds'
   changes however long the pre-copy took.
3. S: lock the queue row (``FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``) and
   every message row of the queue, reading only their changeable columns,
   then its claims, subscriptions and pending notifications. From here
   writers of the queue wait (posts on the queue row, deletes and claim
   updates on the message rows); claimers skip the locked rows and find
   nothing. T, in one transaction: ``sync`` again (rows gone are deleted,
   changed ones get S's state, new ones are read in full from S and added),
   turn the staging row into the queue (meta, FIFO counter, subscription
   hint), write claims, subscriptions and notifications; commit
   (``write_copy``).
4. S: delete the queue's rows and turn its queue row into a tombstone
   (``moved_to = T``); commit. The writers that waited wake up, meet the
   tombstone and raise ``QueueMoved``; the pooled store runs them again on T.
5. C: point the catalogue at T, date the tombstone from then (the tombstone
   collector's clock, pooling/tombstones.py), delete the journal row.

Crash analysis (``resume`` decides by looking at S, not at the journal):
S's queue row a tombstone naming T means step 4 committed, so the move is
completed (catalogue to T). Anything else means S still holds the queue,
so whatever T got (the staging row included) is replaced by a tombstone
naming S (a worker that still routes to T then follows to S).

The write pause is steps 3 to 4. What grows with the queue's depth there is
only server-side work on narrow rows: the locked read of (id, claim state,
expiry), the same read of the staged copy, and the delete of the source's
rows. The delete stays inside the pause on purpose: a delete or claim
update that waited for a row lock of the move (or that resolved the queue
just before the commit) must find the row gone, not act on a stale copy
while the message lives on in T (docs/scaling.md, "Not done / limits").

Message ids are database keys, kept as they are so that clients' ids and
claims go on working. Each pool issues ids from its own block (``id_blocks``
in C, ``jump_keys``), so ids never collide between pools that got a block
when registered; ids issued before (block 0) may, and such a move is refused.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
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
from sqlqueue.storage.sql.tombstones import STAGED

logger = logging.getLogger(__name__)

PENDING = 0
"""``deliveries.state`` of a notification not yet delivered."""
STAGING_PREFIX = "\x7f"
"""Staging queue keys start with it: above the queue and topic key ranges
(domain/namespaces.py), so no queue or topic can have one."""
BLOCK_BITS = 40
"""Message ids per pool block: 2**40 (a block is never outgrown in practice)."""
INHERITS_KEYS = ("mysql", "mariadb", "sqlite")
"""Databases whose key counter jumps past explicitly inserted keys."""
CHUNK = 500


STATE_COLUMNS = (
    messages.c.id,
    messages.c.claim_id,
    messages.c.claim_expires,
    messages.c.claim_count,
    messages.c.ttl,
    messages.c.expires_at,
)
"""What can change on a message row after it is posted (claims, renewals,
lifetime extensions; deletion and dead-lettering take the row away). The
rest (marker, body, client, created_at, delay_until) is written once, so a
staged row whose state matches the source's is the same row."""

States = dict[int, tuple[Any, ...]]
"""Message id -> the values of ``STATE_COLUMNS`` after the id."""


@dataclass(frozen=True)
class QueueState:
    """Everything of one queue that a move carries, taken under the source's locks.

    ``states``: every message row's changeable columns (the rows are deleted
    in the source's transaction); ``fresh``: the full rows posted since the
    staged copy (marker above its highest).
    """

    queue: Row[Any]
    states: States
    fresh: Sequence[Row[Any]]
    claims: Sequence[Row[Any]]
    subscriptions: Sequence[Row[Any]]
    notifications: Sequence[Row[Any]]


@dataclass(frozen=True)
class Staged:
    """The target's staged copy as the switch starts: its row states and top marker."""

    states: States
    top: int | None


def _state_query(queue_id: int) -> sa.Select[Any]:
    return sa.select(*STATE_COLUMNS).where(messages.c.queue_id == queue_id)


def read_states(conn: Connection, queue_id: int) -> States:
    """The changeable columns of every message row of a queue, by id (no body
    crosses the wire)."""
    return {row[0]: tuple(row[1:]) for row in conn.execute(_state_query(queue_id))}


def take_states(conn: Connection, queue_id: int) -> States:
    """Delete every message row of a queue in ``conn`` (the source, its queue
    row locked); their changeable columns, by id.

    One pass where the database returns what it deletes (PostgreSQL,
    MariaDB, SQLite): the delete locks the rows as it reads them. Elsewhere
    (MySQL) a locked read over (queue_id, marker) first, then the delete.
    """
    delete = sa.delete(messages).where(messages.c.queue_id == queue_id)
    if conn.dialect.delete_returning:
        taken = conn.execute(delete.returning(*STATE_COLUMNS))
        return {row[0]: tuple(row[1:]) for row in taken}
    locked = _state_query(queue_id).order_by(messages.c.marker).with_for_update()
    states = {row[0]: tuple(row[1:]) for row in conn.execute(locked)}
    if conn.execute(delete).rowcount != len(states):  # cannot happen under the locks
        raise errors.StorageUnavailable("The queue changed during its move; nothing was moved")
    return states


def fetch_rows(conn: Connection, keys: Sequence[int]) -> list[Row[Any]]:
    """Full message rows (every column the schema has) of ``keys``."""
    found: list[Row[Any]] = []
    ordered = sorted(keys)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        found += conn.execute(sa.select(messages).where(messages.c.id.in_(chunk))).all()
    return found


def _named(table: sa.Table, project: str, queue: str) -> list[Any]:
    return [table.c.project == project, table.c.name == queue]


def _lock_queue(conn: Connection, project: str, queue: str) -> Row[Any] | None:
    stmt = sa.select(queues).where(*_named(queues, project, queue)).with_for_update()
    return conn.execute(stmt).first()


def read_state(
    conn: Connection, project: str, queue: str, pool: str, now: int, top: int | None
) -> QueueState:
    """Lock the queue in ``conn`` (the source), read the rows posted after
    marker ``top`` (the staged copy's highest; None: every row) in full, then
    take every message row's state (``take_states``: the rows are deleted,
    so writers that wait for them find them gone once the move commits).

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
    notified = sa.select(deliveries).where(
        deliveries.c.project == project,
        deliveries.c.queue == queue,
        deliveries.c.state == PENDING,
    )
    subscribed = sa.select(subscriptions).where(
        subscriptions.c.project == project, subscriptions.c.source == queue
    )
    posted = sa.select(messages).where(messages.c.queue_id == row.id)
    if top is not None:
        posted = posted.where(messages.c.marker > top)
    fresh = conn.execute(posted.with_for_update()).all()
    return QueueState(
        row,
        take_states(conn, row.id),
        fresh,
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


def _refuse_taken(conn: Connection, keys: Sequence[int], *, queue: str, pool: str) -> None:
    taken = _taken_ids(conn, keys)
    if taken:
        raise errors.MoveRefused(
            f"Message ids of queue {queue} are in use in pool {pool} ({len(taken)}, "
            f"e.g. {taken[0]}): the queue cannot keep its ids there"
        )


def stage(
    conn: Connection, source: Row[Any], found: Sequence[Row[Any]], staging: str, pool: str
) -> None:
    """The pre-copy: ``found`` (message rows read from the source, unlocked)
    written into ``conn`` (the target) under a hidden queue row named ``staging``.

    The staging row is a tombstone (``moved_to`` = STAGED), so no listing,
    lookup or count sees it; its name is no valid queue name.
    :raises MoveRefused: one of the message ids is in use in the target.
    """
    _refuse_taken(conn, [m.id for m in found], queue=source.name, pool=pool)
    values = _values(source, name=staging, moved_to=STAGED, message_rows=0)
    del values["id"]
    inserted = conn.execute(sa.insert(queues).values(values)).inserted_primary_key
    assert inserted is not None
    _insert(conn, messages, [_values(m, queue_id=inserted[0]) for m in found])


_SET_STATE = (
    sa.update(messages)
    .where(messages.c.id == sa.bindparam("p_key"))
    .values({c.name: sa.bindparam(f"p_{c.name}") for c in STATE_COLUMNS[1:]})
)


def sync(
    conn: Connection,
    queue_id: int,
    states: tuple[States, States],
    fresh: Sequence[Row[Any]],
    refuse: Callable[[Sequence[int]], None],
) -> int:
    """Make the message rows of queue ``queue_id`` in ``conn`` (the target's
    staged copy, whose states are ``have``) those of the source (``want``),
    ``states`` being (have, want); the rows the queue has after.

    Rows the source no longer has go, rows whose state changed get the
    source's state (no body is read or written again), and ``fresh`` (full
    source rows the copy lacks) are added after ``refuse`` checked that
    their ids are free here.
    """
    have, want = states
    gone = sorted(key for key in have if key not in want)
    changed = [key for key, state in want.items() if key in have and have[key] != state]
    for start in range(0, len(gone), CHUNK):
        conn.execute(sa.delete(messages).where(messages.c.id.in_(gone[start : start + CHUNK])))
    names = [c.name for c in STATE_COLUMNS[1:]]
    updates = [
        {"p_key": key, **{f"p_{name}": v for name, v in zip(names, want[key], strict=True)}}
        for key in changed
    ]
    for start in range(0, len(updates), CHUNK):
        conn.execute(_SET_STATE, updates[start : start + CHUNK])
    added = [row for row in fresh if row.id not in have]
    if added:
        refuse([row.id for row in added])
        _insert(conn, messages, [_values(m, queue_id=queue_id) for m in added])
    return len(have) - len(gone) + len(added)


def write_copy(conn: Connection, state: QueueState, pool: str, staging: str, have: States) -> None:
    """Write the queue into ``conn`` (the target), replacing a tombstone there.

    The staged copy (``staging``, whose row states were ``have``) is brought
    to the source's locked state (``sync``: only rows gone, changed or added
    since are written), and the staging row becomes the queue.

    :raises MoveRefused: a live queue of that name, or one of the message ids, is there.
    :raises StorageUnavailable: a source row is neither staged nor fresh
        (the staged copy lost a row): nothing moves.
    """
    project, queue = state.queue.project, state.queue.name
    there = _lock_queue(conn, project, queue)
    if there is not None and there.moved_to is None:
        raise errors.MoveRefused(f"Pool {pool} already has a queue {queue}")
    staged = _lock_queue(conn, project, staging)
    fresh = {row.id for row in state.fresh}
    if any(key not in have and key not in fresh for key in state.states):
        raise errors.StorageUnavailable("The queue's staged copy lost a row; nothing was moved")
    _clear(conn, project, queue)
    queue_id = _final_queue_row(conn, state.queue, staged)
    refuse = partial(_refuse_taken, conn, queue=queue, pool=pool)
    rows = sync(conn, queue_id, (have, state.states), state.fresh, refuse)
    conn.execute(sa.update(queues).where(queues.c.id == queue_id).values(message_rows=rows))
    _insert(conn, claims, [_values(c, queue_id=queue_id) for c in state.claims])
    _insert(conn, subscriptions, [_values(s) for s in state.subscriptions])
    notices = [_values(d) for d in state.notifications]
    for notice in notices:
        del notice["id"]
    _insert(conn, deliveries, notices)


def _rows_of(conn: Connection, queue_id: int) -> list[Row[Any]]:
    stmt = sa.select(messages).where(messages.c.queue_id == queue_id).order_by(messages.c.id)
    return list(conn.execute(stmt).all())


def _final_queue_row(conn: Connection, source: Row[Any], staged: Row[Any] | None) -> int:
    """The target's queue row, as the source's: the staging row renamed, or a new one."""
    values = _values(source, message_rows=0, moved_to=None)
    del values["id"]
    if staged is None:
        inserted = conn.execute(sa.insert(queues).values(values)).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])
    counters.forget(conn, staged.id)  # none expected (gc skips staged copies); be sure
    conn.execute(sa.update(queues).where(queues.c.id == staged.id).values(values))
    return int(staged.id)


def retire(conn: Connection, state: QueueState, target: str, now: int) -> None:
    """Delete what hangs off the moved queue in ``conn`` (the source; its
    message rows went in ``read_state``) and leave a tombstone naming ``target``."""
    queue_id = state.queue.id
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


def _tombstone(conn: Connection, project: str, names: tuple[str, str], pool: str, now: int) -> None:
    """Leave (only) a tombstone naming ``pool`` for the queue in ``conn``.

    ``names``: (queue, staging): the pre-copy goes too.
    """
    queue, staging = names
    _clear(conn, project, staging)
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


@dataclass(frozen=True)
class Plan:
    """One move, as journaled: ``staging`` names the target's pre-copy queue row."""

    project: str
    queue: str
    source: str
    target: str
    staging: str


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
        plan = Plan(project, queue, source, target, STAGING_PREFIX + uuid.uuid4().hex)
        src, dst = self._sql(source), self._sql(target)
        self._wait_settled(dst, project, queue, target)
        for pool in (source, target):
            self.adopt(pool)  # pools registered before moves existed
        self._journal(plan)
        self._hook("journaled")
        try:
            queue_id = self._precopy(src, dst, plan)
            self._hook("staged")
            if queue_id is not None:
                self._catch_up(src, dst, plan, queue_id)
            self._hook("caught_up")
            count, pause = self._switch(src, dst, plan)
        except BaseException:
            self._resolve(plan)  # by the source: completed or rolled back
            raise
        self._hook("source_committed")
        self._finish(plan)
        logger.info("moved queue %s/%s from %s to %s", project, queue, source, target)
        return MoveResult(project, queue, source, target, "moved", count, pause)

    def _precopy(self, src: SqlDataDriver, dst: SqlDataDriver, plan: Plan) -> int | None:
        """Copy the queue's messages as they are now, with no lock (the switch
        then writes only what changed meanwhile); the source's queue id, None
        when the source has no such queue (yet)."""
        stmt = sa.select(queues).where(*_named(queues, plan.project, plan.queue))

        def read(conn: Connection) -> tuple[Row[Any] | None, list[Row[Any]]]:
            row = conn.execute(stmt).first()
            if row is None or row.moved_to is not None:
                return None, []
            return row, _rows_of(conn, row.id)

        row, found = src.db.run(read, write=False)
        if row is None:
            return None
        dst.db.run(lambda c: stage(c, row, found, plan.staging, plan.target))
        return int(row.id)

    def _catch_up(self, src: SqlDataDriver, dst: SqlDataDriver, plan: Plan, queue_id: int) -> None:
        """Bring the staged copy up to the source's current state, with no lock,
        so that the locked switch finds only what changed during this round
        (posts, claims and deletes of a few milliseconds, not of the whole
        pre-copy)."""
        have = self._staged(dst, plan).states
        want = src.db.run(lambda c: read_states(c, queue_id), write=False)
        new = [key for key in want if key not in have]
        fresh = src.db.run(lambda c: fetch_rows(c, new), write=False)

        def apply(conn: Connection) -> None:
            staged = _lock_queue(conn, plan.project, plan.staging)
            if staged is not None:
                refuse = partial(_refuse_taken, conn, queue=plan.queue, pool=plan.target)
                sync(conn, staged.id, (have, want), fresh, refuse)

        dst.db.run(apply)

    def _staged(self, dst: SqlDataDriver, plan: Plan) -> Staged:
        """The staged copy's row states and top marker (only this move writes them)."""

        def read(conn: Connection) -> Staged:
            stmt = sa.select(queues.c.id).where(*_named(queues, plan.project, plan.staging))
            staged = conn.execute(stmt).scalar()
            if staged is None:
                return Staged({}, None)
            top = sa.select(sa.func.max(messages.c.marker)).where(messages.c.queue_id == staged)
            return Staged(read_states(conn, staged), conn.execute(top).scalar())

        return dst.db.run(read, write=False)

    def _switch(self, src: SqlDataDriver, dst: SqlDataDriver, plan: Plan) -> tuple[int, float]:
        """Steps 3-4; (messages moved, write pause in ms, from asking for the lock).

        The staged copy is read before the lock: the pause holds only the
        source's narrow locked pass and the few rows changed since the catch-up.
        """
        staged = self._staged(dst, plan)
        with wrap_db_errors(), src.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                asked = time.perf_counter()
                now = src.db.now_ms()
                state = read_state(conn, plan.project, plan.queue, plan.source, now, staged.top)
                self._hook("source_locked")
                dst.db.run(lambda c: write_copy(c, state, plan.target, plan.staging, staged.states))
                self._hook("target_committed")
                retire(conn, state, plan.target, src.db.now_ms())
            pause = (time.perf_counter() - asked) * 1000
        return len(state.states), pause

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

    def _journal(self, plan: Plan) -> None:
        values = {**dataclasses.asdict(plan), "started_at": self._control.now_ms()}
        try:
            self._control.run(lambda c: c.execute(sa.insert(moves).values(values)))
        except errors.StorageUnavailable:
            raise
        except sa.exc.IntegrityError as ex:
            raise errors.MoveRefused(
                f"A move of queue {plan.queue} is in progress (sqlqueue queue move --resume)"
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

    def _finish(self, plan: Plan) -> None:
        dst = self._sql(plan.target)
        if dst.db.backend in INHERITS_KEYS:  # the moved keys pushed its counter
            self._new_block(plan.target, dst)
        try:
            self._catalogue.update(plan.project, plan.queue, plan.target)
        except errors.QueueNotMapped:
            pass  # deleted meanwhile (through the tombstone): nothing to point
        self._hook("catalogued")
        self._touch(plan)
        self._forget(plan)

    def _touch(self, plan: Plan) -> None:
        """Date the source's tombstone from now, the catalogue pointing to the
        target: caches of the old placement end ``catalogue_cache_seconds``
        after it (the tombstone collector's rule, pooling/tombstones.py)."""
        src = self._sql(plan.source)
        stmt = (
            sa.update(queues)
            .where(*_named(queues, plan.project, plan.queue), queues.c.moved_to == plan.target)
            .values(updated_at=src.db.now_ms())
        )
        src.db.run(lambda c: c.execute(stmt))

    def _forget(self, plan: Plan) -> None:
        stmt = sa.delete(moves).where(moves.c.project == plan.project, moves.c.queue == plan.queue)
        self._control.run(lambda c: c.execute(stmt))

    def _resolve(self, plan: Plan) -> str:
        """Complete or roll back a move by what the source holds; the outcome."""
        src, dst = self._sql(plan.source), self._sql(plan.target)
        stmt = sa.select(queues.c.moved_to).where(*_named(queues, plan.project, plan.queue))
        moved_to = src.db.run(lambda c: c.execute(stmt).scalar(), write=False)
        if moved_to == plan.target:
            self._finish(plan)
            return "completed"
        now, names = dst.db.now_ms(), (plan.queue, plan.staging)
        dst.db.run(lambda c: _tombstone(c, plan.project, names, plan.source, now))
        self._forget(plan)
        return "rolled back"

    def resume(self) -> list[MoveResult]:
        """Complete or roll back every journaled move (interrupted by a crash)."""
        pending = self._control.run(lambda c: c.execute(sa.select(moves)).all(), write=False)
        done = []
        for row in pending:
            outcome = self._resolve(
                Plan(row.project, row.queue, row.source, row.target, row.staging)
            )
            logger.info("move of %s/%s to %s: %s", row.project, row.queue, row.target, outcome)
            done.append(MoveResult(row.project, row.queue, row.source, row.target, outcome))
        return done
