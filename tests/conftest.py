"""Fixtures shared by every test: one storage suite over every backend.

``backend_url`` is parametrised over sqlite, postgresql and mysql (marked
with the same names, so ``-m "not mysql"`` narrows a run); each URL points
at a database migrated to head with Alembic and emptied before each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import metadata
from tests import databases

for _name in list(os.environ):
    if _name.startswith("SQLQUEUE_") and not _name.startswith("SQLQUEUE_TEST_"):
        del os.environ[_name]

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


class ServerUrls:
    """Lazily created per-session databases on each backend."""

    def __init__(self, tmp_dir: str) -> None:
        self._tmp = tmp_dir
        self._stack = ExitStack()
        self._urls: dict[str, str] = {}
        self._pg_server: str | None = None

    def url(self, backend: str, name: str = "main") -> str:
        """The URL of database ``name`` on ``backend`` (created on first use)."""
        key = f"{backend}/{name}"
        if key not in self._urls:
            self._urls[key] = self._create(backend, name)
        return self._urls[key]

    def _create(self, backend: str, name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self._tmp}/{name}.db"
        base = self._base(backend)
        db_name = f"sqlqueue_t{os.getpid()}_{name}"
        try:
            return self._stack.enter_context(databases.server_database(base, db_name))
        except sa.exc.OperationalError as ex:
            databases.unavailable(f"{backend} at {base}: {ex.orig}")
            raise

    def _base(self, backend: str) -> str:
        if backend == "mysql":
            url = os.environ.get("SQLQUEUE_TEST_MYSQL_URL")
            if not url:
                databases.unavailable("SQLQUEUE_TEST_MYSQL_URL is not set")
            return url or ""
        url = os.environ.get("SQLQUEUE_TEST_POSTGRES_URL")
        if url:
            return url
        if self._pg_server is None:
            try:
                self._pg_server = self._stack.enter_context(databases.private_postgresql())
            except Exception as ex:  # no binaries, no permission...
                databases.unavailable(f"cannot start a private PostgreSQL: {ex}")
        return self._pg_server or ""

    def close(self) -> None:
        """Drop every database created."""
        self._stack.close()


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerUrls]:
    urls = ServerUrls(str(tmp_path_factory.mktemp("sqlite")))
    yield urls
    urls.close()


_ENGINES: dict[str, Engine] = {}


def migrated_engine(server_urls: ServerUrls, backend: str) -> Engine:
    """A session-wide engine on a database migrated to head."""
    if backend not in _ENGINES:
        engine = make_engine(server_urls.url(backend))
        migrate.upgrade(engine)
        _ENGINES[backend] = engine
    return _ENGINES[backend]


def empty_tables(engine: Engine) -> None:
    """Delete every row (children first); lets concurrency tests really commit."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


@pytest.fixture
def engine(backend: str, server_urls: ServerUrls) -> Engine:
    """An engine on an emptied, migrated database of the backend under test."""
    eng = migrated_engine(server_urls, backend)
    empty_tables(eng)
    return eng


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock()


@pytest.fixture
def driver(engine: Engine, clock: ManualClock) -> SqlDataDriver:
    """A data driver on the backend under test, driven by the manual clock."""
    return SqlDataDriver(engine, clock=clock)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for eng in _ENGINES.values():
        eng.dispose()
