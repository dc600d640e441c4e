"""One database: transactions with retry, the clock, and shared helpers."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.observe.metrics import DATABASE_RETRIES
from sqlqueue.storage.sql import tally, writers
from sqlqueue.storage.sql.engine import SQLITE_BUSY_MS, WRITE_OPTION, make_engine
from sqlqueue.storage.sql.errors import is_retryable, wrap_db_errors

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
        self._writers = writers.lock_for(engine)

    def now_ms(self) -> int:
        """The clock's time in integer milliseconds."""
        return int(self.clock() * 1000)

    def run(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run ``work`` in one transaction, again on deadlocks and lock timeouts."""
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
                    with self._autocommit_engine().connect() as conn:
                        return _settled(conn, lambda: work(conn))
                except exc.DBAPIError as ex:
                    attempt += 1
                    if attempt >= MAX_ATTEMPTS or not is_retryable(ex):
                        raise
                    DATABASE_RETRIES.inc()
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))

    def _autocommit_engine(self) -> Engine:
        """A second pool whose connections stay in autocommit (switching one
        connection back and forth costs round trips)."""
        if self._autocommit is None:
            url = self.engine.url.render_as_string(hide_password=False)
            self._autocommit = make_engine(url, isolation_level="AUTOCOMMIT")
        return self._autocommit

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._autocommit is not None:
            self._autocommit.dispose()

    def _once(self, work: Callable[[Connection], T], write: bool) -> T:
        if write and self._writers is not None:
            # SQLite: this process's writers queue in turn (storage/sql/writers.py).
            with writers.turn(self._writers, SQLITE_BUSY_MS / 1000):
                return self._in_connection(work, write)
        return self._in_connection(work, write)

    def _in_connection(self, work: Callable[[Connection], T], write: bool) -> T:
        with self.engine.connect() as conn:
            if write and self.backend == "sqlite":  # read by SQLite's BEGIN only (engine.py)
                conn.execution_options(**{WRITE_OPTION: True})
            return _settled(conn, lambda: _in_transaction(conn, work))

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


def _in_transaction(conn: Connection, work: Callable[[Connection], T]) -> T:
    with conn.begin():
        return work(conn)


def _settled(conn: Connection, run: Callable[[], T]) -> T:
    """``run()``, then the counts it made on ``conn`` reach the metrics if it
    returned (its transaction committed), or are dropped if it raised."""
    try:
        result = run()
    except BaseException:
        tally.settle(conn, committed=False)
        raise
    tally.settle(conn, committed=True)
    return result


def dumps(document: Any) -> str:
    """Encode a JSON document for storage."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    """Decode a stored JSON document."""
    return json.loads(text)
