"""One database: transactions with retry, the clock, and shared helpers."""

from __future__ import annotations

import json
import logging
import random
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.domain.documents import encode
from sqlqueue.observe.metrics import DATABASE_RETRIES
from sqlqueue.storage.sql import held, tally, writers
from sqlqueue.storage.sql.engine import SQLITE_BUSY_MS, WRITE_OPTION, make_engine
from sqlqueue.storage.sql.errors import is_retryable, wrap_db_errors
from sqlqueue.storage.sql.held import HeldConnections

logger = logging.getLogger(__name__)

T = TypeVar("T")
MAX_ATTEMPTS = 8


class Database:
    """An engine plus the clock; runs units of work in retried transactions."""

    def __init__(self, engine: Engine, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.clock = clock
        self.backend = engine.dialect.name
        self.update_returning = bool(engine.dialect.update_returning)
        self.skip_locked = self.backend in ("postgresql", "mysql", "mariadb")
        self._autocommit: Engine | None = None
        self._held_autocommit: HeldConnections | None = None
        self._writers = writers.lock_for(engine)
        self._implicit_begin = self.backend != "sqlite"
        """Whether the driver begins a transaction with the first statement (psycopg2,
        PyMySQL); SQLite's transactions are begun by SQLAlchemy (engine.py)."""
        self._held = held.stacks(engine, {WRITE_OPTION: True} if self.backend == "sqlite" else None)
        """Kept connections by ``write``: on SQLite the kind decides how a
        transaction begins (``WRITE_OPTION``, engine.py)."""
        self._stacks = [*{*self._held.values()}]
        # A kept connection is checked out, and SQLAlchemy keeps a checked-out
        # connection's engine alive: a Database dropped without dispose() hands
        # its kept connections back, so that its engine can go too.
        weakref.finalize(self, held.close_all, self._stacks)

    def now_ms(self) -> int:
        """The clock's time in integer milliseconds."""
        return int(self.clock() * 1000)

    def run(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run ``work`` in one transaction, again on deadlocks and lock timeouts.

        :raises StorageUnavailable: the database cannot be reached (or the
            pool is exhausted): ``storage.sql.errors.wrap_db_errors``.
        """
        with wrap_db_errors():
            attempt = 0
            while True:
                try:
                    return self._once(work, write)
                except exc.DBAPIError as ex:
                    attempt += 1
                    if attempt >= MAX_ATTEMPTS or not is_retryable(ex):
                        raise
                    logger.debug("retrying transaction after %s", ex.orig)
                    DATABASE_RETRIES.inc()
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))

    def run_alone(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` whose first statement alone changes the data.

        PERF: on PostgreSQL such a unit runs in autocommit (one statement is
        atomic by itself), saving the BEGIN and COMMIT round trips; whatever
        ``work`` does after that statement must only read. Elsewhere it is an
        ordinary write transaction (pymysql would spend a round trip switching
        autocommit on and off; SQLite has no round trips to save).
        """
        if self.backend != "postgresql":
            return self.run(work)
        with wrap_db_errors():
            attempt = 0
            while True:
                try:
                    return self._held_unit(self._autocommit_held(), work, in_transaction=False)
                except exc.DBAPIError as ex:
                    attempt += 1
                    if attempt >= MAX_ATTEMPTS or not is_retryable(ex):
                        raise
                    DATABASE_RETRIES.inc()
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))

    def _autocommit_held(self) -> HeldConnections:
        """A second pool whose connections stay in autocommit (switching one
        connection back and forth costs round trips)."""
        if self._autocommit is None:
            url = self.engine.url.render_as_string(hide_password=False)
            self._autocommit = make_engine(url, isolation_level="AUTOCOMMIT")
            self._held_autocommit = held.stacks(self._autocommit)[True]
            self._stacks.append(self._held_autocommit)
        assert self._held_autocommit is not None
        return self._held_autocommit

    def dispose(self) -> None:
        """Close every pooled connection."""
        held.close_all(self._stacks)
        self.engine.dispose()
        if self._autocommit is not None:
            self._autocommit.dispose()

    def _once(self, work: Callable[[Connection], T], write: bool) -> T:
        if write and self._writers is not None:
            # SQLite: this process's writers queue in turn (storage/sql/writers.py).
            with writers.turn(self._writers, SQLITE_BUSY_MS / 1000):
                return self._held_unit(self._held[True], work, in_transaction=True)
        return self._held_unit(self._held[write], work, in_transaction=True)

    def _held_unit(
        self, stack: HeldConnections, work: Callable[[Connection], T], *, in_transaction: bool
    ) -> T:
        """``work`` on a kept connection (storage/sql/held.py), in a transaction if
        ``in_transaction``; its counts settled (storage/sql/tally.py)."""
        conn, taken = stack.take()
        try:
            if not in_transaction:
                result = work(conn)
            elif self._implicit_begin:
                result = work(conn)
                _commit(conn)
            else:
                with conn.begin():
                    result = work(conn)
        except BaseException:
            if in_transaction and self._implicit_begin:
                _roll_back(conn)
            tally.settle(conn, committed=False)
            stack.give_back(conn, taken, clean=False)
            raise
        tally.settle(conn, committed=True)
        stack.give_back(conn, taken, clean=True)
        return result

    def is_alive(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            with wrap_db_errors(), self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception:  # any failure means "not alive"
            return False
        return True

    def select_for_update(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        """Lock the selected rows, skipping rows other transactions hold."""
        if self.skip_locked:
            return stmt.with_for_update(skip_locked=True)
        return stmt


def _commit(conn: Connection) -> None:
    """Commit the unit of work's transaction, begun by the driver.

    PERF: psycopg2 and PyMySQL begin a transaction with a connection's first
    statement, so a unit of work needs no ``Connection.begin()`` (its
    transaction object, events and context manager: about 30,000 instructions
    per unit, valgrind). SQLAlchemy knows of the transaction only if a Core
    statement began it (autobegin); the hot statements run on the driver's
    cursor (storage/sql/hot.py). Either way one COMMIT ends it.
    """
    if conn.in_transaction():
        conn.commit()
    else:
        conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]


def _roll_back(conn: Connection) -> None:
    """Roll back what a failed unit of work began (``_commit``'s other way out).

    The pool resets no connection on check-in (``pool_reset_on_return``), so
    this must not be skipped. A connection that cannot even roll back is
    invalidated: the pool replaces it.
    """
    try:
        if conn.in_transaction():
            conn.rollback()
        elif not conn.invalidated:
            conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
    except Exception:  # lost connection: whatever it held is gone with it
        conn.invalidate()


def dumps(document: Any) -> str:
    """Encode a JSON document for storage (``domain.documents.encode``)."""
    return encode(document)


def loads(text: str) -> Any:
    """Decode a stored JSON document (a new object each call: callers may change it).

    PERF: the metadata of most queues is ``{}``, read by every post and claim.
    """
    if text == "{}":
        return {}
    return json.loads(text)
