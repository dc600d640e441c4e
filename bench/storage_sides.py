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
from sqlqueue.storage.sql.counters import shard
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import SQLITE_BUSY_MS
from sqlqueue.storage.sql.wakeups import CHANNEL, notify_payload

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

    def bulk_delete(self, queue: str, message_ids: Sequence[str]) -> None:
        """Delete messages by id in one transaction."""

    def stats(self, queue: str) -> Any:
        """The queue's counts (read in one transaction)."""


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

    def bulk_delete(self, queue: str, message_ids: Sequence[str]) -> None:
        self.driver.messages.bulk_delete(PROJECT, queue, message_ids)

    def stats(self, queue: str) -> Any:
        return self.driver.queues.stats(PROJECT, queue)


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
    * delete with a claim: one ``DELETE`` resolving the queue in a subquery,
      counted in a shard row of ``queue_counters`` (on PostgreSQL in the same
      statement, ``WITH gone AS (DELETE ...) INSERT ... ON CONFLICT``, in
      autocommit);
    * bulk delete: queue lookup, ``DELETE ... IN``, the shard count;
    * stats: the counts statement, then the oldest and newest live message.

    The post's counter bump also counts the rows (``message_rows``) and, on
    PostgreSQL, sends the long-poll ``pg_notify``.
    """

    name = "floor"

    def __init__(
        self,
        conn: Any,
        backend: str,
        *,
        insert_returning: bool,
        project: str = PROJECT,
        client_id: str = CLIENT_ID,
    ) -> None:
        self.conn = conn
        self.project = project
        self.client_id = client_id
        self.backend = backend
        self.sqlite = backend == "sqlite"
        self.update_returning = backend in ("sqlite", "postgresql")
        self.insert_returning = insert_returning
        self.lock = "" if self.sqlite else " FOR UPDATE SKIP LOCKED"
        self._inserts: dict[int, str] = {}
        self._takes: dict[tuple[int, bool], str] = {}

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
            (self.project, queue),
        )
        row = cur.fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def _bump(self, cur: Any, queue: str, count: int, now: int) -> tuple[int, Any, int, int | None]:
        """Reserve ``count`` markers and count the rows (and, on PostgreSQL, NOTIFY).

        (queue id, meta, first marker, subscription hint).
        """
        if self.update_returning:
            notify = ", pg_notify(%s, %s)" if self.backend == "postgresql" else ""
            wake = (CHANNEL, notify_payload(self.project, queue, count)) if notify else ()
            cur.execute(
                self._sql(
                    "UPDATE queues SET next_marker = next_marker + %s,"
                    " message_rows = message_rows + %s, updated_at = %s"
                    " WHERE project = %s AND name = %s"
                    " RETURNING id, meta, next_marker, notify_until" + notify
                ),
                (count, count, now, self.project, queue, *wake),
            )
            qid, meta, nxt, hint = cur.fetchone()[:4]
            return qid, json.loads(meta), nxt - count, hint
        cur.execute(
            "SELECT id, meta, next_marker, notify_until FROM queues"
            " WHERE project = %s AND name = %s FOR UPDATE",
            (self.project, queue),
        )
        qid, meta, nxt, hint = cur.fetchone()
        cur.execute(
            "UPDATE queues SET next_marker = %s, message_rows = message_rows + %s,"
            " updated_at = %s WHERE id = %s",
            (nxt + count, count, now, qid),
        )
        return qid, json.loads(meta), nxt, hint

    def _hint(self, cur: Any, qid: int, queue: str, hint: int | None) -> None:
        """A queue's first post computes its subscription hint (none live in the bench)."""
        if hint is not None:
            return
        cur.execute(
            self._sql(
                "UPDATE queues SET notify_until = coalesce((SELECT max(expires_at)"
                " FROM subscriptions WHERE project = %s AND source = %s), 0)"
                " WHERE id = %s AND notify_until IS NULL"
            ),
            (self.project, queue, qid),
        )
        cur.execute(self._sql("SELECT notify_until FROM queues WHERE id = %s"), (qid,))

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

    def _take_sql(self, count: int, extend: bool) -> str:
        sql = self._takes.get((count, extend))
        if sql is None:
            # ttl before expires_at before claim_expires: MySQL assigns left to right.
            lifetimes = (
                " ttl = CASE WHEN expires_at < %s THEN %s ELSE ttl END,"
                " expires_at = CASE WHEN expires_at < %s THEN %s ELSE expires_at END,"
            )
            sql = (
                "UPDATE messages SET"
                + (lifetimes if extend else "")
                + " claim_id = %s, claim_expires = %s, claim_count = claim_count + 1"
                f" WHERE id IN ({', '.join(['%s'] * count)}) AND claim_expires <= %s"
            )
            if self.update_returning:
                sql += " RETURNING " + READ_COLUMNS
            sql = self._takes[count, extend] = self._sql(sql)
        return sql

    # -- operations

    def post(
        self, queue: str, bodies: Sequence[Any], ttls: Sequence[int | None] | None = None
    ) -> list[str]:
        now = int(time.time() * 1000)
        count = len(bodies)

        def work(cur: Any) -> list[str]:
            qid, meta, first, hint = self._bump(cur, queue, count, now)
            default = meta.get("_default_message_ttl") or DEFAULT_TTL
            delay = meta.get("_default_message_delay") or 0
            params: list[Any] = []
            for offset, body in enumerate(bodies):
                ttl = (ttls[offset] if ttls else None) or default
                params += (qid, first + offset, _dumps(body), self.client_id, ttl, now)
                params += (now + ttl * 1000, now + delay * 1000, None, 0, 0)
            cur.execute(self._insert_sql(count), params)
            if self.insert_returning:
                posted = [str(key) for key, _ in sorted(cur.fetchall(), key=lambda r: r[1])]
            else:
                cur.execute(
                    "SELECT id FROM messages WHERE queue_id = %s AND marker BETWEEN %s AND %s"
                    " ORDER BY marker",
                    (qid, first, first + count - 1),
                )
                posted = [str(key) for (key,) in cur.fetchall()]
            self._hint(cur, qid, queue, hint)
            return posted

        return self._tx(work)

    def claim(self, queue: str, limit: int) -> tuple[str | None, list[tuple[str, Any]]]:
        claim_id, held = self.claim_rows(queue, limit, CLAIM_TTL, CLAIM_GRACE)
        return claim_id, [(m.id, m.body) for m in held]

    def claim_rows(
        self, queue: str, limit: int, ttl: int, grace: int
    ) -> tuple[str | None, list[ClaimedRow]]:
        """Claim up to ``limit`` messages for ``ttl`` s: (claim id, the claimed rows)."""
        now = int(time.time() * 1000)
        lease = (uuid.uuid4().hex, ttl, grace, now)

        def work(cur: Any) -> tuple[str | None, list[ClaimedRow]]:
            found = self._find_queue(cur, queue)
            if found is None:
                return None, []
            qid, _meta = found  # no dead-letter settings in this benchmark
            free = self._candidates(cur, qid, now, limit)
            taken = self._take(cur, qid, free, lease) if free else []
            if not taken:
                return None, []
            cur.execute(
                self._sql(
                    "INSERT INTO claims (id, queue_id, ttl, grace, created_at, expires_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                ),
                (lease[0], qid, ttl, grace, now, now + ttl * 1000),
            )
            return lease[0], [
                ClaimedRow(
                    str(key),
                    marker,
                    json.loads(body),
                    row_ttl,
                    max(0, (now - created) // 1000),
                    cid if cexp > now else None,
                    count,
                )
                for key, marker, body, row_ttl, created, cid, cexp, count in taken
            ]

        return self._tx(work)

    def _candidates(self, cur: Any, qid: int, now: int, limit: int) -> list[tuple[int, int]]:
        """(id, expires_at) of up to ``limit`` free messages, oldest first, locked."""
        cur.execute(
            self._sql(
                "SELECT id, claim_count, marker, expires_at FROM messages WHERE queue_id = %s"
                " AND marker > %s AND expires_at > %s AND claim_expires <= %s"
                " ORDER BY marker LIMIT %s" + self.lock
            ),
            (qid, 0, now, now, limit),
        )
        return [(key, expires) for key, _count, _marker, expires in cur.fetchall()]

    def _take(
        self, cur: Any, qid: int, found: list[tuple[int, int]], lease: tuple[str, int, int, int]
    ) -> list[Any]:
        """Claim the rows ``found``; lifetimes are extended only if one is shorter (as sqlqueue)."""
        claim_id, ttl, grace, now = lease
        expires = now + ttl * 1000
        keys = [key for key, _expires in found]
        extend = any(row_expires < expires for _key, row_expires in found)
        params: tuple[Any, ...] = (claim_id, expires, *keys, now)
        if extend:
            params = (expires, ttl + grace, expires, expires + grace * 1000, *params)
        cur.execute(self._take_sql(len(keys), extend), params)
        if self.update_returning:
            return sorted(cur.fetchall(), key=lambda row: row[1])
        if cur.rowcount == 0:
            return []
        cur.execute(
            self._sql(
                f"SELECT {READ_COLUMNS} FROM messages WHERE queue_id = %s AND claim_id = %s"
                " AND claim_expires > %s AND expires_at > %s ORDER BY marker"
            ),
            (qid, claim_id, now, now),
        )
        return list(cur.fetchall())

    def delete(self, queue: str, message_id: str, claim_id: str) -> None:
        now = int(time.time() * 1000)
        key = int(message_id)
        where = (
            "DELETE FROM messages WHERE id = %s AND queue_id ="
            " (SELECT id FROM queues WHERE project = %s AND name = %s)"
            " AND claim_id = %s AND claim_expires > %s"
        )
        params = (key, self.project, queue, claim_id, now)

        def work(cur: Any) -> None:
            cur.execute(self._sql(where), params)
            if cur.rowcount != 1:
                raise BenchError(f"floor: message {message_id} not deleted")
            self._count_named(cur, queue, -1)

        if self.backend != "postgresql":
            self._tx(work)
            return
        # As sqlqueue (Database.run_alone): one statement counting what it
        # deleted, in autocommit.
        self.conn.autocommit = True
        cur = self.conn.cursor()
        try:
            cur.execute(COUNTED_DELETE.format(delete=where), (*params, shard()))
            if cur.rowcount != 1:
                raise BenchError(f"floor: message {message_id} not deleted")
        finally:
            cur.close()
            self.conn.autocommit = False

    def _count(self, cur: Any, qid: int, delta: int) -> None:
        """Add ``delta`` rows to one of the queue's counter shards (created if missing)."""
        params = (delta, qid, shard())
        update = "UPDATE queue_counters SET delta = delta + %s WHERE queue_id = %s AND shard = %s"
        cur.execute(self._sql(update), params)
        if cur.rowcount:
            return
        ignore = {"sqlite": "INSERT OR IGNORE", "mysql": "INSERT IGNORE"}.get(self.backend)
        insert = f"{ignore or 'INSERT'} INTO queue_counters (queue_id, shard, delta)"
        insert += " VALUES (%s, %s, 0)" + (" ON CONFLICT DO NOTHING" if ignore is None else "")
        cur.execute(self._sql(insert), params[1:])
        cur.execute(self._sql(update), params)

    def _count_named(self, cur: Any, queue: str, delta: int) -> None:
        cur.execute(
            self._sql(
                "UPDATE queue_counters SET delta = delta + %s WHERE queue_id ="
                " (SELECT id FROM queues WHERE project = %s AND name = %s) AND shard = %s"
            ),
            (delta, self.project, queue, shard()),
        )
        if not cur.rowcount:
            found = self._find_queue(cur, queue)
            if found is not None:
                self._count(cur, found[0], delta)

    def bulk_delete(self, queue: str, message_ids: Sequence[str]) -> None:
        """Delete messages by id (claimed or not, as Zaqar's ``?ids=`` without claim ids)."""
        keys = sorted({int(mid) for mid in message_ids})

        def work(cur: Any) -> None:
            found = self._find_queue(cur, queue)
            if found is None:
                return
            marks = ", ".join(["%s"] * len(keys))
            cur.execute(
                self._sql(f"DELETE FROM messages WHERE queue_id = %s AND id IN ({marks})"),
                (found[0], *keys),
            )
            if cur.rowcount:
                self._count(cur, found[0], -cur.rowcount)

        self._tx(work)

    def stats(self, queue: str) -> QueueCounts:
        """The queue's counts, oldest and newest, read as sqlqueue reads them."""
        now = int(time.time() * 1000)

        def work(cur: Any) -> QueueCounts:
            cur.execute(self._sql(COUNTS), (now, now, self.project, queue))
            row = cur.fetchone()
            if row is None:
                return QueueCounts(0, 0)
            qid, rows, _next, delta, expired, claimed = row
            total = int(rows) + int(delta) - int(expired)
            if total <= 0:
                return QueueCounts(0, 0)
            edges = [self._edge(cur, qid, now, order) for order in ("ASC", "DESC")]
            return QueueCounts(total, int(claimed), edges[0], edges[1])

        if self.sqlite:  # a read: no BEGIN IMMEDIATE
            cur = self.conn.cursor()
            try:
                cur.execute("BEGIN")
                result = work(cur)
                self.conn.commit()
                return result
            finally:
                cur.close()
        return self._tx(work)

    def _edge(self, cur: Any, qid: int, now: int, order: str) -> tuple[str, int] | None:
        cur.execute(
            self._sql(
                "SELECT id, created_at FROM messages WHERE queue_id = %s AND expires_at > %s"
                f" ORDER BY marker {order} LIMIT %s"
            ),
            (qid, now, 1),
        )
        row = cur.fetchone()
        return None if row is None else (str(row[0]), int(row[1]))


COUNTS = (
    "SELECT id, message_rows, next_marker,"
    " (SELECT coalesce(sum(delta), 0) FROM queue_counters WHERE queue_id = queues.id),"
    " (SELECT count(*) FROM messages WHERE queue_id = queues.id AND expires_at <= %s),"
    " (SELECT count(*) FROM messages WHERE queue_id = queues.id AND claim_expires > %s"
    " AND claim_expires > 0)"  # the partial index's condition, as sqlqueue says it
    " FROM queues WHERE project = %s AND name = %s"
)
"""sqlqueue's stats counts statement (storage/sql/counters.py)."""

COUNTED_DELETE = (
    "WITH gone AS ({delete} RETURNING queue_id)"
    " INSERT INTO queue_counters (queue_id, shard, delta)"
    " SELECT gone.queue_id, %s, -count(*) FROM gone GROUP BY gone.queue_id"
    " ON CONFLICT (queue_id, shard) DO UPDATE SET delta = queue_counters.delta + excluded.delta"
)
"""PostgreSQL: a delete and its count in one statement (``{delete}`` the DELETE)."""


@dataclass(frozen=True)
class QueueCounts:
    """A queue's stats as the floor reads them: counts, and (id, created ms) of the edges."""

    total: int
    claimed: int
    oldest: tuple[str, int] | None = None
    newest: tuple[str, int] | None = None


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
