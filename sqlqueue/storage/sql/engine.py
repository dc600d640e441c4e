"""Engines with the per-database settings a queue needs.

* SQLite: WAL (readers never block the writer), incremental auto-vacuum
  for a new file (docs/maintenance.md), a busy timeout, foreign
  keys on, and transactions begun by us: ``BEGIN IMMEDIATE`` for writes so
  a read-then-write transaction never fails to upgrade its lock.
* MySQL/MariaDB: READ COMMITTED (fewer gap locks, fewer deadlocks), utf8mb4,
  and PyMySQL connections sharing one TLS context (``SharedTlsConnection``).
* PostgreSQL: the driver's defaults (READ COMMITTED).
"""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pymysql.connections import Connection as PyMySQLConnection
from sqlalchemy import exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

from sqlqueue import errors
from sqlqueue.storage.sql.errors import missing_sqlite

WRITE_OPTION = "sqlqueue_write"
IDLE_PING_SECONDS = 5.0
SQLITE_BUSY_MS = 30000
NON_DURABLE_MYSQL = (
    "MySQL and MariaDB have no per-session durability switch: set"
    " innodb_flush_log_at_trx_commit = 2 (and sync_binlog = 0) on the server instead,"
    " and register the pool without persist=false."
)


def make_engine(url: str, *, create: bool = True, persist: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url`` configured for queue work.

    A SQLite file's directory is created unless ``create`` is false.
    ``persist=False`` (the seed's non-durable flavor) makes each session
    commit without waiting for the disk: PostgreSQL ``synchronous_commit =
    off`` (a crash of the server loses the last few hundred milliseconds of
    commits, never consistency), SQLite ``synchronous = OFF`` (a power loss
    may corrupt the file).

    :raises DatabaseMissing: ``create`` is false and a SQLite file's directory
        does not exist.
    :raises ValidationFailed: ``persist=False`` on MySQL/MariaDB, which have
        no per-session switch (``NON_DURABLE_MYSQL`` says what to do).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if not persist and backend in ("mysql", "mariadb"):
        raise errors.ValidationFailed(NON_DURABLE_MYSQL)
    if backend == "sqlite":
        return _sqlite_engine(url, create=create, persist=persist, **kwargs)
    if backend == "postgresql" and not persist:
        connect_args = kwargs.setdefault("connect_args", {})
        given = connect_args.get("options", "")
        connect_args["options"] = f"{given} -c synchronous_commit=off".strip()
    if backend in ("mysql", "mariadb"):
        if parsed.drivername in ("mysql", "mariadb"):
            parsed = parsed.set(drivername=f"{backend}+pymysql")
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(query=query)
        kwargs.setdefault("isolation_level", "READ COMMITTED")
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_recycle", 3600)
    # PERF: every unit of work ends its own transaction (Database.run), and
    # Connection.close() rolls back anything left open, so the pool's own
    # ROLLBACK on check-in is one round trip too many.
    kwargs.setdefault("pool_reset_on_return", None)
    # PERF: the connection used last is taken first, so a few stay busy and
    # the rest idle. With the default (FIFO) every pooled backend took its
    # turn, and PostgreSQL's CPU per post was higher (446 against 394 us in
    # one pair of bench/cpu_bench.py runs). An idle one is pinged before use
    # (_ping_when_idle).
    kwargs.setdefault("pool_use_lifo", True)
    engine = sa.create_engine(parsed, **kwargs)
    _ping_when_idle(engine)
    if parsed.get_driver_name() == "pymysql":
        _share_tls_context(engine)
    return engine


class SharedTlsConnection(PyMySQLConnection):  # type: ignore[misc]
    """PyMySQL's connection, with one TLS context for all connections that configure none.

    PERF: PyMySQL 1.2 tries TLS on every connection ("preferred" mode) and
    builds a fresh ``SSLContext`` for each, loading the system CA bundle:
    about 17 ms of CPU per connection whether or not the server speaks TLS.
    Pools open connections in bursts (1,000 long-polls arriving spent half
    the workers' CPU there, docs/long-poll.md). The shared context is built
    by PyMySQL itself, once, so behaviour is unchanged; connections given
    TLS options (``ssl_ca`` ... in the URL) build their own as before.
    """

    _shared: ssl.SSLContext | None = None
    _lock = threading.Lock()

    def _create_ssl_ctx(self, sslp: Any) -> Any:
        if sslp:
            return super()._create_ssl_ctx(sslp)
        with SharedTlsConnection._lock:
            if SharedTlsConnection._shared is None:
                SharedTlsConnection._shared = super()._create_ssl_ctx({})
            return SharedTlsConnection._shared


def _share_tls_context(engine: Engine) -> None:
    """Open ``engine``'s PyMySQL connections as ``SharedTlsConnection``s."""

    @sa.event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return SharedTlsConnection(*cargs, **cparams)


_IDLE_SINCE = "idle_since"
_IDLE_HINT = "sqlqueue.idle_since"


def idle_since(conn: sa.Connection, when: float) -> None:
    """Date ``conn``'s next check-in ``when`` (``time.monotonic()``) instead of now.

    For a connection that sat idle outside the pool (storage/sql/held.py): its
    next check-out then pings it as it would one idle in the pool.
    """
    conn.info[_IDLE_HINT] = when


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle for a while.

    PERF: ``pool_pre_ping`` costs a round trip per transaction; a connection
    used a moment ago is alive, and one idle for longer (a restarted server)
    is pinged and replaced if dead.
    """

    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = record.info.pop(_IDLE_HINT, None) or time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as ex:  # any failure means "replace this connection"
            raise exc.DisconnectionError(str(ex)) from ex


def _sqlite_engine(url: str, *, create: bool, persist: bool, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if in_memory:
        kwargs.setdefault("poolclass", StaticPool)
    elif create:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif not Path(database).expanduser().parent.is_dir():
        raise missing_sqlite(parsed)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_MS / 1000)
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            # A new file: freed pages can then be handed back to the file system in
            # small steps (storage/sql/maintenance.py). Only asked of an empty file:
            # on any other the pragma waits for the write lock, which the
            # connection that needed this one may hold.
            if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
                cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL" if persist else "PRAGMA synchronous=OFF")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Queue-name filters match case-sensitively, as on the servers.
        cursor.execute("PRAGMA case_sensitive_like=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        # PERF: straight to sqlite3; a full SQLAlchemy execution of BEGIN
        # was 12% of a SQLite profile (docs/performance.md).
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")  # type: ignore[union-attr]

    return engine
