"""Keeping the churning tables flat: the collector's maintenance step.

A queue's tables churn: every message is inserted, claimed (updated) and
deleted. What each database needs so that a deep queue stays as fast as a
shallow one, even with the server's own background work off or behind
(docs/maintenance.md):

* **PostgreSQL**: dead row versions stay in the table and its indexes until
  a VACUUM; the planner's statistics go stale until an ANALYZE. A table is
  vacuumed (and analyzed) when ``pg_stat_user_tables`` shows more than
  ``min_rows + fraction x live rows`` dead rows, analyzed when as many rows
  changed since the last ANALYZE: autovacuum's own rule, with our numbers.
  One process at a time (``pg_try_advisory_lock``; the others skip the
  round); ``VACUUM (SKIP_LOCKED)`` in autocommit, which never waits for a
  lock and takes none that posts, claims or deletes wait for.
* **MySQL/MariaDB**: InnoDB purges deleted rows itself, in the background;
  statistics are recomputed by InnoDB after 10% of a table changed. The step
  runs ``ANALYZE TABLE`` (a sample of 20 pages per index by default) when
  InnoDB's modified-rows counter passes the same threshold, under a named
  lock (``GET_LOCK``) so one process does it.
* **SQLite**: a bounded ``ANALYZE`` (``analysis_limit``), free pages handed
  back to the file system by ``incremental_vacuum`` in small steps (on a
  database created with ``auto_vacuum=INCREMENTAL``, as sqlqueue creates
  them), then a WAL checkpoint: passive, and a truncating one only when
  it can complete without waiting (``busy_timeout`` 0), so the WAL file
  shrinks after a drain and no writer waits on the step.

Every statement is short or runs where no producer waits on it: the step
never holds a lock a post needs for longer than one small step.
"""

from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from sqlqueue.storage.sql import writers
from sqlqueue.storage.sql.engine import SQLITE_BUSY_MS

logger = logging.getLogger(__name__)

CHURNING = ("messages", "claims", "deliveries", "queue_counters", "queues")
"""The tables whose rows come and go (or are rewritten) all the time."""
PG_LOCK_KEY = 7_360_230_415_862_121_829
"""The advisory lock of the maintenance step (any constant; per database)."""
SQLITE_ANALYSIS_LIMIT = 1000
"""Rows ANALYZE reads per index on SQLite: its cost does not grow with the queue."""
SQLITE_FREE_STEP = 256
"""Pages one ``incremental_vacuum`` step hands back (1 MiB at 4 KiB pages)."""
SQLITE_FREE_STEPS = 4096
"""At most this many steps per run (4 GiB at the default step)."""


@dataclass(frozen=True)
class Thresholds:
    """When a table needs work: ``min_rows + fraction x live rows`` dead or changed rows."""

    min_rows: int = 1000
    fraction: float = 0.05

    def passed(self, rows: int, live: int) -> bool:
        """Whether ``rows`` (dead or changed) is past the threshold for ``live`` rows."""
        return rows > self.min_rows + self.fraction * max(live, 0)


def run(engine: Engine, thresholds: Thresholds) -> list[str]:
    """One maintenance step on ``engine``'s database: what was done, one line per action.

    An empty list: nothing was needed. A line starting ``skipped`` means
    another process was doing it.
    """
    backend = engine.dialect.name
    if backend == "postgresql":
        return _postgresql(engine, thresholds)
    if backend in ("mysql", "mariadb"):
        return _mysql(engine, thresholds)
    if backend == "sqlite":
        return _sqlite(engine)
    return []


_PG_STATS = sa.text(
    "SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze FROM pg_stat_user_tables"
    " WHERE schemaname = current_schema() AND relname IN :names ORDER BY relname"
).bindparams(sa.bindparam("names", expanding=True))


def _postgresql(engine: Engine, thresholds: Thresholds) -> list[str]:
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    with auto.connect() as conn:
        lock = sa.text("SELECT pg_try_advisory_lock(:key)")
        if not conn.execute(lock, {"key": PG_LOCK_KEY}).scalar():
            return ["skipped: another process is maintaining this database"]
        try:
            return [_pg_table(conn, row, thresholds) for row in _pg_due(conn, thresholds)]
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})


def _pg_due(conn: Connection, thresholds: Thresholds) -> list[Any]:
    rows = conn.execute(_PG_STATS, {"names": list(CHURNING)}).all()
    return [
        row
        for row in rows
        if thresholds.passed(row.n_dead_tup, row.n_live_tup)
        or thresholds.passed(row.n_mod_since_analyze, row.n_live_tup)
    ]


def _pg_table(conn: Connection, row: Any, thresholds: Thresholds) -> str:
    table = conn.dialect.identifier_preparer.quote(row.relname)
    if thresholds.passed(row.n_dead_tup, row.n_live_tup):
        conn.exec_driver_sql(f"VACUUM (SKIP_LOCKED, ANALYZE) {table}")
        done = f"VACUUM (ANALYZE) {row.relname}: {row.n_dead_tup} dead rows"
    else:
        conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {table}")
        done = f"ANALYZE {row.relname}: {row.n_mod_since_analyze} rows changed"
    logger.info("maintenance: %s", done)
    return done


_MY_NAME = "CONCAT('sqlqueue.maintenance.', DATABASE())"
"""The named lock of the maintenance step: server-wide in MySQL, so named per database."""
_MY_LOCK = sa.text(f"SELECT GET_LOCK({_MY_NAME}, 0)")
_MY_UNLOCK = sa.text(f"SELECT RELEASE_LOCK({_MY_NAME})")
_MY_STATS = {
    # MariaDB, then MySQL 8: rows changed since InnoDB last computed statistics.
    "mariadb": "information_schema.INNODB_SYS_TABLESTATS",
    "mysql": "information_schema.INNODB_TABLESTATS",
}


def _mysql(engine: Engine, thresholds: Thresholds) -> list[str]:
    with engine.connect() as conn:
        if not conn.execute(_MY_LOCK).scalar():
            return ["skipped: another process is maintaining this database"]
        try:
            due = _my_due(conn, thresholds)
            return [_my_analyze(conn, table, changed) for table, changed in due]
        finally:
            conn.execute(_MY_UNLOCK)
            conn.commit()


def _my_due(conn: Connection, thresholds: Thresholds) -> list[tuple[str, int]]:
    view = _MY_STATS["mariadb" if conn.dialect.is_mariadb else "mysql"]  # type: ignore[attr-defined]
    query = sa.text(
        f"SELECT NAME, NUM_ROWS, MODIFIED_COUNTER FROM {view} WHERE NAME IN :names"
    ).bindparams(sa.bindparam("names", expanding=True))
    schema = conn.execute(sa.text("SELECT DATABASE()")).scalar()
    try:
        rows = conn.execute(query, {"names": [f"{schema}/{t}" for t in CHURNING]}).all()
    except exc.DBAPIError as ex:  # no PROCESS privilege: InnoDB's own recalculation stays
        logger.info("maintenance: cannot read InnoDB table statistics (%s)", ex.orig)
        conn.rollback()
        return []
    return [
        (str(name).split("/", 1)[1], int(changed))
        for name, live, changed in rows
        if thresholds.passed(int(changed), int(live))
    ]


def _my_analyze(conn: Connection, table: str, changed: int) -> str:
    conn.exec_driver_sql(f"ANALYZE TABLE `{table}`").all()
    conn.commit()
    done = f"ANALYZE TABLE {table}: {changed} rows changed"
    logger.info("maintenance: %s", done)
    return done


def _sqlite(engine: Engine) -> list[str]:
    if engine.url.database in (None, "", ":memory:"):
        return []
    raw = engine.raw_connection()  # autocommit: sqlqueue begins its transactions itself
    lock = writers.lock_for(engine)  # each write waits its turn with the process's writers
    with closing(raw):
        cursor = raw.cursor()
        try:
            return [
                *_sqlite_analyze(cursor, lock),
                *_sqlite_free(cursor, lock),
                *_sqlite_checkpoint(cursor),
            ]
        finally:
            cursor.close()


def _sqlite_analyze(cursor: Any, lock: writers.WriterLock | None) -> list[str]:
    cursor.execute(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
    for table in CHURNING:
        with writers.turn(lock, SQLITE_BUSY_MS / 1000):
            cursor.execute(f"ANALYZE {table}")
    return ["ANALYZE (analysis_limit) " + ", ".join(CHURNING)]


def _sqlite_free(cursor: Any, lock: writers.WriterLock | None) -> list[str]:
    """Hand free pages back to the file system, one short write transaction per step."""
    free = cursor.execute("PRAGMA freelist_count").fetchone()[0]
    if free < SQLITE_FREE_STEP:
        return []
    if cursor.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return [f"{free} free pages kept: auto_vacuum is not INCREMENTAL (docs/maintenance.md)"]
    for _ in range(SQLITE_FREE_STEPS):
        # executescript steps the statement to its end (execute: one page per step).
        with writers.turn(lock, SQLITE_BUSY_MS / 1000):
            cursor.executescript(f"PRAGMA incremental_vacuum({SQLITE_FREE_STEP})")
        if cursor.execute("PRAGMA freelist_count").fetchone()[0] < SQLITE_FREE_STEP:
            break
    done = f"incremental_vacuum: {free} free pages handed back"
    logger.info("maintenance: %s", done)
    return [done]


def _sqlite_checkpoint(cursor: Any) -> list[str]:
    busy, log, done = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if log < 0:
        return ["wal_checkpoint: another checkpoint was running"]
    if busy or done < log:
        return [f"wal_checkpoint(PASSIVE): {done} of {log} pages (readers still need the rest)"]
    cursor.execute("PRAGMA busy_timeout = 0")  # truncate only if nobody must wait for it
    try:
        busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
    return [f"wal_checkpoint: {log} pages" + (", WAL truncated" if not busy else "")]
