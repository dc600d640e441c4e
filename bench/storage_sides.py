"""The two sides of the storage bench: sqlqueue's ``SqlDataDriver`` and a DB-API floor.

Both do the three operations (post, claim, delete with a claim) on a ``Backend``: a
fresh migrated database plus a raw DB-API connection (sqlite3 / psycopg2 / pymysql)
for the floor. ``storage_bench.py`` times them, ``statement_check.py`` proves they send
the same statements, ``round_trips.py`` counts their round trips.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from harness.databases import Database, fresh_database
from harness.workload import CLAIM_GRACE, CLAIM_TTL, BenchError
from sqlalchemy.engine import URL, Engine, make_url

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import SQLITE_BUSY_MS

T = TypeVar("T")

PROJECT = "bench"
CLIENT_ID = "3381af92-2b9e-11e3-b191-71861300734c"
DEFAULT_TTL = 3600  # seconds: sqlqueue's, for a queue without _default_message_ttl
READ_COLUMNS = "id, marker, body, ttl, created_at, claim_id, claim_expires, claim_count"


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
                raise BenchError(f"floor: message {message_id} not deleted")

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


# ------------------------------------------------------------------------ backends


@dataclass
class Backend:
    """One database under test: the migrated ``Database`` and the floor's raw connection.

    ``insert_returning`` is what sqlqueue's insert_rows asks (``executemany`` with
    RETURNING): True on SQLite, PostgreSQL and MariaDB >= 10.5.
    """

    db: Database
    raw: Any
    insert_returning: bool

    @property
    def name(self) -> str:
        """The backend's name: "sqlite", "postgresql" or "mysql"."""
        return self.db.backend

    @property
    def engine(self) -> Engine:
        """sqlqueue's engine on the database."""
        return self.db.engine

    def settle(self) -> None:
        """Untimed: drop leftover claims and let the database tidy up between runs."""
        self.db.settle(checkpoint="TRUNCATE")

    def sides(self) -> list[Side]:
        """[sqlqueue, floor] on this database."""
        ours = SqlqueueSide(SqlDataDriver(self.engine))
        return [ours, FloorSide(self.raw, self.name, insert_returning=self.insert_returning)]


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


@contextmanager
def floor_backend(db: Database) -> Iterator[Backend]:
    """``db`` with a raw DB-API connection for the floor, closed on exit."""
    url = make_url(db.url)
    raw = (
        _sqlite_raw(url.database or "") if db.backend == "sqlite" else _server_raw(db.backend, url)
    )
    try:
        yield Backend(db, raw, bool(db.engine.dialect.insert_executemany_returning))
    finally:
        raw.close()


@contextmanager
def open_backend(name: str, server_urls: dict[str, str], db_name: str) -> Iterator[Backend]:
    """A fresh migrated database on backend ``name`` with the floor's connection; dropped after."""
    with fresh_database(name, server_urls, db_name) as db, floor_backend(db) as backend:
        yield backend
