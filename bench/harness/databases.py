"""A fresh database per backend, migrated with sqlqueue's Alembic migrations.

Backends are named ``"sqlite"`` (a file in a temporary directory), ``"postgresql"``
and ``"mysql"`` (a database created on the server, dropped afterwards).
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine

DEFAULT_URLS = {
    "postgresql": os.environ.get(
        "SQLQUEUE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"
    ),
    "mysql": os.environ.get("SQLQUEUE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
}
"""Server URLs without a database, per backend (the ``SQLQUEUE_BENCH_*`` variables win)."""


@dataclass
class Database:
    """A fresh migrated database: its backend name, URL (password kept) and an engine."""

    backend: str
    url: str
    engine: Engine

    @property
    def server_version(self) -> str:
        """The server's version as dotted numbers, e.g. ``"15.20"`` (SQLite: the library's)."""
        return ".".join(map(str, self.engine.dialect.server_version_info or ()))

    def settle(self, checkpoint: str = "PASSIVE") -> None:
        """Untimed, between phases: drop claims, let the database tidy up, collect garbage.

        PostgreSQL gets ``VACUUM (ANALYZE)``; SQLite ``PRAGMA wal_checkpoint(<checkpoint>)``.
        """
        with self.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM claims")
        if self.backend == "postgresql":
            auto = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            with auto as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) messages, claims, queues")
        elif self.backend == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA wal_checkpoint({checkpoint})")
        gc.collect()

    def left_in_queue(self, project: str, queue: str) -> int:
        """How many message rows the queue still holds (expired or not)."""
        stmt = sa.text(
            "SELECT count(*) FROM messages m JOIN queues q ON q.id = m.queue_id"
            " WHERE q.project = :project AND q.name = :name"
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt, {"project": project, "name": queue}).scalar_one())


def _admin(url: URL, statement: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _server_database(
    backend: str, server_url: str, db_name: str, cleanup: list[Callable[[], None]]
) -> str:
    """(Re)create ``db_name`` on the server; its URL. Queues the drop on ``cleanup``."""
    server = make_url(server_url)
    if backend == "mysql" and "+" not in server.drivername:
        server = server.set(drivername="mysql+pymysql")
    quote, force = ('"', " WITH (FORCE)") if backend == "postgresql" else ("`", "")
    drop = f"DROP DATABASE IF EXISTS {quote}{db_name}{quote}{force}"
    _admin(server, drop)
    _admin(server, f"CREATE DATABASE {quote}{db_name}{quote}")
    cleanup.append(lambda: _admin(server, drop))
    return server.set(database=db_name).render_as_string(hide_password=False)


@contextmanager
def fresh_database(
    backend: str, server_urls: dict[str, str], db_name: str, prefix: str = "sqlqueue-bench-"
) -> Iterator[Database]:
    """A new database on ``backend``, migrated to head; dropped (or deleted) afterwards.

    ``server_urls`` maps "postgresql"/"mysql" to a server URL (see ``DEFAULT_URLS``);
    ``prefix`` names SQLite's temporary directory. Unreachable servers raise
    ``sqlalchemy.exc.OperationalError``; clean-up failures are printed, not raised.
    """
    cleanup: list[Callable[[], None]] = []
    try:
        if backend == "sqlite":
            tmp = tempfile.TemporaryDirectory(prefix=prefix)
            cleanup.append(tmp.cleanup)
            url = f"sqlite:///{Path(tmp.name) / db_name}.db"
        else:
            url = _server_database(backend, server_urls[backend], db_name, cleanup)
        engine = make_engine(url)
        cleanup.append(engine.dispose)
        migrate.upgrade(engine)
        yield Database(backend, url, engine)
    finally:
        for step in reversed(cleanup):
            try:
                step()
            except Exception as ex:  # keep cleaning up
                print(f"  cleanup on {backend} failed: {ex}", file=sys.stderr)
