"""Storage benchmark: sqlqueue's SQL data driver beside a hand-written DB-API floor.

For each backend (SQLite file, PostgreSQL, MySQL/MariaDB) a fresh database is
created and migrated with sqlqueue's Alembic migrations, then three workloads
run through ``SqlDataDriver`` and through a *floor*: the same statements, in
the same transactions, written by hand against the raw driver (sqlite3 /
psycopg2 / pymysql) with no SQLAlchemy in the loop:

1. ``post x1``: post one message per call (one transaction each);
2. ``post x10``: post batches of ten;
3. ``claim10+delete``: the consumer loop -- claim up to ten, then delete each
   claimed message with its claim id -- until the queue is empty.

Both sides move the same number of messages. Each round runs every side from
an empty messages table (sides alternate which goes first), and every run is
checked: the consumer must receive every posted message exactly once, in
posting (FIFO) order, leaving the queue empty. The table reports the best of
the rounds for each side.

Before timing, each backend runs one transaction of each kind through both
sides while counting the statements sent to the driver (a SQLAlchemy
``before_cursor_execute`` listener on the sqlqueue side, a counting cursor on
the floor side) and stops if the two sides do not issue the same statements.

Usage::

    python bench/storage_bench.py [--backends sqlite,postgresql,mysql]
                                  [--messages N] [--rounds R] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import SQLITE_BUSY_MS, make_engine

T = TypeVar("T")

PROJECT = "bench"
CLIENT_ID = "3381af92-2b9e-11e3-b191-71861300734c"
CLAIM_TTL = 300
CLAIM_GRACE = 60
CLAIM_LIMIT = 10
BATCH = 10
DEFAULT_TTL = 3600
PAYLOAD = "x" * 64
READ_COLUMNS = "id, marker, body, ttl, created_at, claim_id, claim_expires, claim_count"

DEFAULT_URLS = {
    "postgresql": os.environ.get(
        "SQLQUEUE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"
    ),
    "mysql": os.environ.get("SQLQUEUE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
}

OPERATIONS = ("post x1", "post x10", "claim10+delete")


# --------------------------------------------------------------------------- sides


class Side(Protocol):
    """One implementation of the three operations under test."""

    name: str

    def post(self, queue: str, bodies: Sequence[Any]) -> list[str]:
        """Post ``bodies`` in one transaction; their ids in input order."""

    def claim(self, queue: str, limit: int) -> tuple[str | None, list[tuple[str, Any]]]:
        """Claim up to ``limit`` messages: (claim id, [(message id, body)])."""

    def delete(self, queue: str, message_id: str, claim_id: str) -> None:
        """Delete one claimed message, guarded by its claim id."""


class SqlqueueSide:
    """The operations through sqlqueue's ``SqlDataDriver``."""

    name = "sqlqueue"

    def __init__(self, driver: SqlDataDriver) -> None:
        self.driver = driver

    def post(self, queue: str, bodies: Sequence[Any]) -> list[str]:
        batch = [NewMessage(body) for body in bodies]
        return self.driver.messages.post(PROJECT, queue, batch, CLIENT_ID)

    def claim(self, queue: str, limit: int) -> tuple[str | None, list[tuple[str, Any]]]:
        claim_id, found = self.driver.claims.create(
            PROJECT, queue, ttl=CLAIM_TTL, grace=CLAIM_GRACE, limit=limit
        )
        return claim_id, [(m.id, m.body) for m in found]

    def delete(self, queue: str, message_id: str, claim_id: str) -> None:
        self.driver.messages.delete(PROJECT, queue, message_id, claim_id)


def _dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class ClaimedRow:
    """What the floor hands back for a claimed message (sqlqueue's Message fields)."""

    id: str
    marker: int
    body: Any
    ttl: int
    age: int
    claim_id: str | None
    claim_count: int


class FloorSide:
    """The same statements written by hand against the raw DB-API connection.

    Mirrors sqlqueue's transactions statement for statement, so that the
    ratio measures the library, not the query plan (``check_statements``
    enforces it):

    * post: the counter bump that also finds the queue (``UPDATE queues ...
      RETURNING id, meta, next_marker``; ``SELECT ... FOR UPDATE`` + ``UPDATE``
      without UPDATE RETURNING), then one multi-row ``INSERT ... RETURNING id,
      marker`` sorted by marker in Python (without executemany RETURNING: the
      INSERT, then a read-back by marker range);
    * claim: queue lookup; candidates ``SELECT id, claim_count ... ORDER BY
      marker LIMIT n FOR UPDATE SKIP LOCKED``; one ``UPDATE`` that claims the
      rows and extends shorter lifetimes with ``CASE``, ``RETURNING`` the
      reader's columns (without UPDATE RETURNING: a read-back SELECT); the
      claims-row INSERT;
    * delete with a claim: one ``DELETE`` resolving the queue in a subquery.
    """

    name = "floor"

    def __init__(self, conn: Any, backend: str, *, insert_returning: bool) -> None:
        self.conn = conn
        self.backend = backend
        self.sqlite = backend == "sqlite"
        self.update_returning = backend in ("sqlite", "postgresql")
        self.insert_returning = insert_returning
        self.lock = "" if self.sqlite else " FOR UPDATE SKIP LOCKED"
        self._inserts: dict[int, str] = {}
        self._takes: dict[int, str] = {}

    # -- helpers

    def _sql(self, text: str) -> str:
        return text.replace("%s", "?") if self.sqlite else text

    def _tx(self, work: Callable[[Any], T]) -> T:
        cur = self.conn.cursor()
        try:
            if self.sqlite:
                cur.execute("BEGIN IMMEDIATE")
            result = work(cur)
            self.conn.commit()
            return result
        except BaseException:
            self.conn.rollback()
            raise
        finally:
            cur.close()

    def _find_queue(self, cur: Any, queue: str) -> tuple[int, dict[str, Any]] | None:
        cur.execute(
            self._sql("SELECT id, meta FROM queues WHERE project = %s AND name = %s"),
            (PROJECT, queue),
        )
        row = cur.fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def _bump(self, cur: Any, queue: str, count: int, now: int) -> tuple[int, Any, int]:
        if self.update_returning:
            cur.execute(
                self._sql(
                    "UPDATE queues SET next_marker = next_marker + %s, updated_at = %s"
                    " WHERE project = %s AND name = %s RETURNING id, meta, next_marker"
                ),
                (count, now, PROJECT, queue),
            )
            qid, meta, nxt = cur.fetchone()
            return qid, json.loads(meta), nxt - count
        cur.execute(
            "SELECT id, meta, next_marker FROM queues WHERE project = %s AND name = %s FOR UPDATE",
            (PROJECT, queue),
        )
        qid, meta, nxt = cur.fetchone()
        cur.execute(
            "UPDATE queues SET next_marker = %s, updated_at = %s WHERE id = %s",
            (nxt + count, now, qid),
        )
        return qid, json.loads(meta), nxt

    def _insert_sql(self, count: int) -> str:
        sql = self._inserts.get(count)
        if sql is None:
            row = "(" + ", ".join(["%s"] * 11) + ")"
            sql = (
                "INSERT INTO messages (queue_id, marker, body, client_id, ttl, created_at,"
                " expires_at, delay_until, claim_id, claim_expires, claim_count) VALUES "
                + ", ".join([row] * count)
            )
            if self.insert_returning:
                sql += " RETURNING id, marker"
            sql = self._inserts[count] = self._sql(sql)
        return sql

    def _take_sql(self, count: int) -> str:
        sql = self._takes.get(count)
        if sql is None:
            # ttl before expires_at before claim_expires: MySQL assigns left to right.
            sql = (
                "UPDATE messages SET"
                " ttl = CASE WHEN expires_at < %s THEN %s ELSE ttl END,"
                " expires_at = CASE WHEN expires_at < %s THEN %s ELSE expires_at END,"
                " claim_id = %s, claim_expires = %s, claim_count = claim_count + 1"
                f" WHERE id IN ({', '.join(['%s'] * count)}) AND claim_expires <= %s"
            )
            if self.update_returning:
                sql += " RETURNING " + READ_COLUMNS
            sql = self._takes[count] = self._sql(sql)
        return sql

    # -- operations

    def post(self, queue: str, bodies: Sequence[Any]) -> list[str]:
        now = int(time.time() * 1000)
        count = len(bodies)

        def work(cur: Any) -> list[str]:
            qid, meta, first = self._bump(cur, queue, count, now)
            ttl = meta.get("_default_message_ttl") or DEFAULT_TTL
            delay = meta.get("_default_message_delay") or 0
            params: list[Any] = []
            for offset, body in enumerate(bodies):
                params += (qid, first + offset, _dumps(body), CLIENT_ID, ttl, now)
                params += (now + ttl * 1000, now + delay * 1000, None, 0, 0)
            cur.execute(self._insert_sql(count), params)
            if self.insert_returning:
                return [str(key) for key, _marker in sorted(cur.fetchall(), key=lambda r: r[1])]
            cur.execute(
                "SELECT id FROM messages WHERE queue_id = %s AND marker BETWEEN %s AND %s"
                " ORDER BY marker",
                (qid, first, first + count - 1),
            )
            return [str(key) for (key,) in cur.fetchall()]

        return self._tx(work)

    def claim(self, queue: str, limit: int) -> tuple[str | None, list[tuple[str, Any]]]:
        now = int(time.time() * 1000)
        claim_id = uuid.uuid4().hex
        expires = now + CLAIM_TTL * 1000

        def work(cur: Any) -> tuple[str | None, list[ClaimedRow]]:
            found = self._find_queue(cur, queue)
            if found is None:
                return None, []
            qid, _meta = found  # no dead-letter settings in this benchmark
            cur.execute(
                self._sql(
                    "SELECT id, claim_count FROM messages WHERE queue_id = %s AND expires_at > %s"
                    " AND claim_expires <= %s ORDER BY marker LIMIT %s" + self.lock
                ),
                (qid, now, now, limit),
            )
            keys = [key for key, _count in cur.fetchall()]
            if not keys:
                return None, []
            extended = (CLAIM_TTL + CLAIM_GRACE, expires + CLAIM_GRACE * 1000)
            params = (expires, extended[0], expires, extended[1], claim_id, expires, *keys, now)
            cur.execute(self._take_sql(len(keys)), params)
            if self.update_returning:
                taken = sorted(cur.fetchall(), key=lambda row: row[1])
            else:
                if cur.rowcount == 0:
                    return None, []
                cur.execute(
                    self._sql(
                        f"SELECT {READ_COLUMNS} FROM messages WHERE claim_id = %s"
                        " AND claim_expires > %s AND expires_at > %s ORDER BY marker"
                    ),
                    (claim_id, now, now),
                )
                taken = cur.fetchall()
            if not taken:
                return None, []
            cur.execute(
                self._sql(
                    "INSERT INTO claims (id, queue_id, ttl, grace, created_at, expires_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                ),
                (claim_id, qid, CLAIM_TTL, CLAIM_GRACE, now, expires),
            )
            held = [
                ClaimedRow(
                    str(key),
                    marker,
                    json.loads(body),
                    ttl,
                    max(0, (now - created) // 1000),
                    cid if cexp > now else None,
                    count,
                )
                for key, marker, body, ttl, created, cid, cexp, count in taken
            ]
            return claim_id, held

        claim_id_or_none, held = self._tx(work)
        return claim_id_or_none, [(m.id, m.body) for m in held]

    def delete(self, queue: str, message_id: str, claim_id: str) -> None:
        now = int(time.time() * 1000)
        key = int(message_id)

        def work(cur: Any) -> None:
            cur.execute(
                self._sql(
                    "DELETE FROM messages WHERE id = %s AND queue_id ="
                    " (SELECT id FROM queues WHERE project = %s AND name = %s)"
                    " AND claim_id = %s AND claim_expires > %s"
                ),
                (key, PROJECT, queue, claim_id, now),
            )
            if cur.rowcount != 1:
                raise AssertionError(f"floor: message {message_id} not deleted")

        if self.backend != "postgresql":
            self._tx(work)
            return
        # As sqlqueue (Database.run_alone): one statement, in autocommit.
        self.conn.autocommit = True
        cur = self.conn.cursor()
        try:
            work(cur)
        finally:
            cur.close()
            self.conn.autocommit = False


# ---------------------------------------------------------------- statement check


class CountingCursor:
    """A DB-API cursor that records every statement it is asked to execute."""

    def __init__(self, cursor: Any, log: list[str]) -> None:
        self._cursor = cursor
        self._log = log

    def execute(self, sql: str, params: Any = None) -> Any:
        self._log.append(sql)
        if params is None:
            return self._cursor.execute(sql)
        return self._cursor.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class CountingConnection:
    """A DB-API connection whose cursors record their statements."""

    def __init__(self, conn: Any, log: list[str]) -> None:
        self._conn = conn
        self._log = log

    def cursor(self) -> CountingCursor:
        return CountingCursor(self._conn.cursor(), self._log)

    @property
    def autocommit(self) -> bool:
        return bool(self._conn.autocommit)

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._conn.autocommit = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def statement_shape(sql: str) -> str:
    """The kind of a statement: its verb, plus RETURNING / FOR UPDATE / subquery."""
    text = " ".join(sql.split()).upper()
    shape = text.split(" ", 1)[0]
    if " RETURNING " in text:
        shape += "+RETURNING"
    if " FOR UPDATE" in text:
        shape += "+FOR UPDATE"
    if "(SELECT " in text:
        shape += "+SUBQUERY"
    return shape


def _one_of_each(side: Side, queue: str, log: list[str]) -> dict[str, list[str]]:
    """One transaction of each kind through ``side``; the statements each sent."""
    seen: dict[str, list[str]] = {}

    def record(op: str, step: Callable[[], T]) -> T:
        log.clear()
        result = step()
        seen[op] = [statement_shape(sql) for sql in log]
        return result

    record("post x1", lambda: side.post(queue, _bodies(0, 1)))
    record("post x10", lambda: side.post(queue, _bodies(1, BATCH)))
    claim_id, found = record("claim", lambda: side.claim(queue, CLAIM_LIMIT))
    if claim_id is None or len(found) != CLAIM_LIMIT:
        raise AssertionError(f"{side.name}: the check claim took {len(found)} messages")
    record("delete", lambda: side.delete(queue, found[0][0], claim_id))
    return seen


def check_statements(backend: Backend) -> str:
    """Stop unless both sides send the same statements per transaction; a summary line."""
    ours: list[str] = []

    def on_execute(*args: Any) -> None:
        ours.append(args[2])  # (conn, cursor, statement, parameters, context, executemany)

    driver = SqlDataDriver(backend.engine)
    for queue in ("check-sqlqueue", "check-floor"):
        driver.queues.create(PROJECT, queue)

    def on_begin(conn: Any) -> None:
        # sqlqueue's SQLite engine sends BEGIN IMMEDIATE straight to sqlite3.
        if backend.name == "sqlite":
            ours.append("BEGIN")

    # Every engine: sqlqueue runs one-statement units on a second, autocommit
    # engine on PostgreSQL (Database.run_alone).
    sa.event.listen(Engine, "before_cursor_execute", on_execute)
    sa.event.listen(backend.engine, "begin", on_begin)
    try:
        mine = _one_of_each(SqlqueueSide(driver), "check-sqlqueue", ours)
    finally:
        sa.event.remove(Engine, "before_cursor_execute", on_execute)
        sa.event.remove(backend.engine, "begin", on_begin)
    theirs: list[str] = []
    counted = CountingConnection(backend.raw, theirs)
    floor = FloorSide(counted, backend.name, insert_returning=backend.insert_returning)
    hand = _one_of_each(floor, "check-floor", theirs)
    with backend.engine.begin() as conn:  # leave the messages table empty again
        conn.exec_driver_sql("DELETE FROM messages")
    if mine != hand:
        detail = "; ".join(
            f"{op}: sqlqueue {mine[op]} vs floor {hand[op]}" for op in mine if mine[op] != hand[op]
        )
        raise AssertionError(f"{backend.name}: the floor does not mirror sqlqueue: {detail}")
    counts = ", ".join(f"{op} {len(mine[op])}={len(hand[op])}" for op in mine)
    return f"statements per transaction, sqlqueue=floor: {counts} (same kinds, same order)"


# ------------------------------------------------------------------------ backends


@dataclass
class Backend:
    """One database under test: a migrated engine, a raw connection, clean-up."""

    name: str
    engine: Engine
    raw: Any
    insert_returning: bool
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def settle(self) -> None:
        """Untimed: drop leftover claims and let the database tidy up between runs."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM claims")
        if self.name == "postgresql":
            auto = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            with auto as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) messages, claims, queues")
        elif self.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close connections and drop what was created, newest first."""
        for step in reversed(self.cleanup):
            try:
                step()
            except Exception as ex:  # keep cleaning up
                print(f"  cleanup on {self.name} failed: {ex}", file=sys.stderr)


def _admin(url: URL, statement: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _sqlite_raw(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=SQLITE_BUSY_MS / 1000, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        f"busy_timeout={SQLITE_BUSY_MS}",
        "foreign_keys=ON",
    ):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def _server_raw(backend: str, url: URL) -> Any:
    if backend == "postgresql":
        import psycopg2

        return psycopg2.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password or "",
            dbname=url.database,
        )
    import pymysql
    from pymysql.constants import CLIENT

    conn = pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=url.database,
        charset="utf8mb4",
        autocommit=False,
        client_flag=CLIENT.FOUND_ROWS,  # as SQLAlchemy's MySQL dialect connects
    )
    with conn.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    return conn


def _migrated(url: str) -> tuple[Engine, bool]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    # What sqlqueue's insert_rows asks: True on SQLite, PostgreSQL and MariaDB >= 10.5.
    returning = bool(engine.dialect.insert_executemany_returning)
    return engine, returning


@contextmanager
def open_backend(name: str, server_urls: dict[str, str], db_name: str) -> Iterator[Backend]:
    """A fresh migrated database on backend ``name``; dropped afterwards."""
    if name == "sqlite":
        tmp = tempfile.TemporaryDirectory(prefix="sqlqueue-bench-")
        path = str(Path(tmp.name) / f"{db_name}.db")
        engine, returning = _migrated(f"sqlite:///{path}")
        backend = Backend(name, engine, _sqlite_raw(path), insert_returning=returning)
        backend.cleanup += [tmp.cleanup, engine.dispose, backend.raw.close]
    else:
        url = make_url(server_urls[name])
        if name == "mysql" and "+" not in url.drivername:
            url = url.set(drivername="mysql+pymysql")
        quote = '"' if name == "postgresql" else "`"
        force = " WITH (FORCE)" if name == "postgresql" else ""
        _admin(url, f"DROP DATABASE IF EXISTS {quote}{db_name}{quote}{force}")
        _admin(url, f"CREATE DATABASE {quote}{db_name}{quote}")
        drop = f"DROP DATABASE IF EXISTS {quote}{db_name}{quote}{force}"
        cleanup: list[Callable[[], None]] = [lambda: _admin(url, drop)]
        try:
            bench_url = url.set(database=db_name)
            engine, returning = _migrated(bench_url.render_as_string(hide_password=False))
            cleanup.append(engine.dispose)
            raw = _server_raw(name, bench_url)
            cleanup.append(raw.close)
        except BaseException:
            for step in reversed(cleanup):
                step()
            raise
        backend = Backend(name, engine, raw, insert_returning=returning, cleanup=cleanup)
    try:
        yield backend
    finally:
        backend.close()


# ------------------------------------------------------------------------ workload


@dataclass
class RunResult:
    """Seconds taken by each operation in one round of one side."""

    seconds: dict[str, float]
    messages: dict[str, int]


def _bodies(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {"event": "bench", "seq": seq, "payload": PAYLOAD} for seq in range(start, start + count)
    ]


def _timed(step: Callable[[], T]) -> tuple[float, T]:
    gc.collect()
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def _post_all(side: Side, queue: str, bodies: list[Any], batch: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(bodies), batch):
        ids += side.post(queue, bodies[start : start + batch])
    return ids


def _consume_all(side: Side, queue: str) -> list[tuple[str, Any]]:
    consumed: list[tuple[str, Any]] = []
    while True:
        claim_id, found = side.claim(queue, CLAIM_LIMIT)
        if claim_id is None or not found:
            return consumed
        for message_id, _body in found:
            side.delete(queue, message_id, claim_id)
        consumed += found


def _left_in_queue(engine: Engine, queue: str) -> int:
    stmt = sa.text(
        "SELECT count(*) FROM messages m JOIN queues q ON q.id = m.queue_id"
        " WHERE q.project = :project AND q.name = :name"
    )
    with engine.connect() as conn:
        return int(conn.execute(stmt, {"project": PROJECT, "name": queue}).scalar_one())


def _verify(
    side: Side, posted: list[str], consumed: list[tuple[str, Any]], total: int, left: int
) -> None:
    ids = [message_id for message_id, _body in consumed]
    seqs = [body["seq"] for _id, body in consumed]
    problems = []
    if len(set(posted)) != total:
        problems.append(f"{len(set(posted))} distinct ids for {total} posted messages")
    if ids != posted:
        problems.append("consumed ids differ from posted ids (loss, duplicate or reorder)")
    if seqs != list(range(total)):
        problems.append("consumed bodies are not the posted sequence")
    if left:
        problems.append(f"{left} messages left in the queue")
    if problems:
        raise AssertionError(f"{side.name}: " + "; ".join(problems))


def run_side(backend: Backend, side: Side, queue: str, count: int) -> RunResult:
    """Post ``count`` singly, ``count`` in batches, then consume all 2 x ``count``."""
    SqlDataDriver(backend.engine).queues.create(PROJECT, queue)
    backend.settle()
    t_single, ids = _timed(lambda: _post_all(side, queue, _bodies(0, count), 1))
    backend.settle()
    t_batch, batch_ids = _timed(lambda: _post_all(side, queue, _bodies(count, count), BATCH))
    backend.settle()
    t_consume, consumed = _timed(lambda: _consume_all(side, queue))
    _verify(side, ids + batch_ids, consumed, 2 * count, _left_in_queue(backend.engine, queue))
    seconds = dict(zip(OPERATIONS, (t_single, t_batch, t_consume), strict=True))
    return RunResult(seconds, dict(zip(OPERATIONS, (count, count, 2 * count), strict=True)))


@dataclass
class Best:
    """Best throughput (messages/s) per side and operation, with every round kept."""

    rates: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, side: str, result: RunResult) -> None:
        for op, seconds in result.seconds.items():
            rate = result.messages[op] / seconds
            self.rates.setdefault((side, op), []).append(rate)

    def best(self, side: str, op: str) -> float:
        return max(self.rates[(side, op)])

    def spread(self, side: str, op: str) -> float:
        """(best - worst) / best over the rounds, as a noise indicator."""
        rates = self.rates[(side, op)]
        return (max(rates) - min(rates)) / max(rates)


def bench_backend(
    backend: Backend, count: int, rounds: int, profiler: cProfile.Profile | None
) -> Best:
    """Check the statements, warm up, then ``rounds`` interleaved rounds of both sides."""
    print(f"  {backend.name} {check_statements(backend)}", flush=True)
    sides: list[Side] = [
        SqlqueueSide(SqlDataDriver(backend.engine)),
        FloorSide(backend.raw, backend.name, insert_returning=backend.insert_returning),
    ]
    warm = max(BATCH, min(count, 200) // BATCH * BATCH)
    for side in sides:
        run_side(backend, side, f"warmup-{side.name}", warm)
    best = Best()
    for round_no in range(rounds):
        order = sides if round_no % 2 == 0 else sides[::-1]
        for side in order:
            watch = profiler if side.name == "sqlqueue" else None
            if watch is not None:
                watch.enable()
            result = run_side(backend, side, f"r{round_no}-{side.name}", count)
            if watch is not None:
                watch.disable()
            best.add(side.name, result)
            rates = ", ".join(
                f"{op} {result.messages[op] / s:,.0f}/s" for op, s in result.seconds.items()
            )
            print(f"  {backend.name} round {round_no + 1} {side.name:8}: {rates}", flush=True)
    return best


# -------------------------------------------------------------------------- output


def print_table(results: dict[str, Best]) -> None:
    header = ("backend", "operation", "sqlqueue msg/s", "floor msg/s", "sqlqueue/floor")
    rows = [header]
    for name, best in results.items():
        for op in OPERATIONS:
            ours, floor = best.best("sqlqueue", op), best.best("floor", op)
            rows.append((name, op, f"{ours:,.0f}", f"{floor:,.0f}", f"{ours / floor:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(lines))
    noisy = [
        f"{name}/{op}/{side} {best.spread(side, op):.0%}"
        for name, best in results.items()
        for op in OPERATIONS
        for side in ("sqlqueue", "floor")
        if best.spread(side, op) > 0.15
    ]
    if noisy:
        print("spread between rounds above 15%: " + ", ".join(noisy))


# Where a profiled function's own time goes: first matching (path part, label).
AREAS = (
    ("/sqlalchemy/sql/", "SQLAlchemy: statement building, cache keys, compiling"),
    ("/sqlalchemy/pool/", "SQLAlchemy: pool checkout/return"),
    ("/sqlalchemy/event/", "SQLAlchemy: event dispatch"),
    ("/sqlalchemy/", "SQLAlchemy: execution, transactions, results"),
    ("/pymysql/", "pymysql (pure-Python driver)"),
    ("/sqlqueue/", "sqlqueue code"),
    ("/json/", "json"),
)
DRIVER_CALLS = ("sqlite3.", "psycopg2.", "socket", "recv_into", "sendall")


def profile_area(filename: str, function: str) -> str:
    """The area a profiled function belongs to."""
    if filename == "~":  # a built-in: the driver's C code or the wire
        driver = any(part in function for part in DRIVER_CALLS)
        return (
            "driver C calls and waiting on the server"
            if driver
            else "other built-ins (getattr, isinstance...)"
        )
    for part, label in AREAS:
        if part in filename:
            return label
    return "other Python"


def print_profile(name: str, profiler: cProfile.Profile, top: int = 15) -> None:
    """Own time by area, then the functions with the most own time."""
    stats = pstats.Stats(profiler)
    areas: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for key in [key for key in raw if "gc.collect" in key[2]]:
        del raw[key]  # the harness's own collection before each timed run
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in raw.items():
        area = profile_area(filename, function)
        areas[area] = areas.get(area, 0.0) + own
    total = sum(areas.values()) or 1.0
    print(f"\n--- cProfile of the sqlqueue side on {name}: own time by area")
    for area, own in sorted(areas.items(), key=lambda item: -item[1]):
        print(f"  {own / total:6.1%}  {area}")
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument(
        "--messages", type=int, default=1000, help="messages per posting workload (default 1000)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side; best is kept")
    parser.add_argument("--postgres-url", default=DEFAULT_URLS["postgresql"])
    parser.add_argument("--mysql-url", default=DEFAULT_URLS["mysql"])
    parser.add_argument("--db-name", default="sqlqueue_bench")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the sqlqueue side"
    )
    args = parser.parse_args(argv)
    if args.messages < BATCH or args.messages % BATCH:
        parser.error(f"--messages must be a positive multiple of {BATCH}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    urls = {"postgresql": args.postgres_url, "mysql": args.mysql_url}
    print(
        f"sqlqueue storage bench: {args.messages} messages per workload, best of {args.rounds}"
        f" rounds; python {sys.version.split()[0]}, sqlalchemy {sa.__version__},"
        f" sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cpus"
    )
    results: dict[str, Best] = {}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            with open_backend(name, urls, args.db_name) as backend:
                version = backend.engine.dialect.server_version_info
                print(f"{name}: server {'.'.join(map(str, version or ()))}", flush=True)
                profiler = cProfile.Profile() if args.profile else None
                results[name] = bench_backend(backend, args.messages, args.rounds, profiler)
                if profiler is not None:
                    print_profile(name, profiler)
        except sa.exc.OperationalError as ex:
            print(f"{name}: unreachable, skipped ({ex.orig})", file=sys.stderr)
    if not results:
        print("no backend could be benchmarked", file=sys.stderr)
        return 1
    print()
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
