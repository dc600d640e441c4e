"""Composition: create_app from settings, the lazy WSGI app, the GC thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from sqlqueue import bootstrap, server, wsgi
from sqlqueue.config import Settings
from sqlqueue.errors import DatabaseUnreachable, SchemaMismatch
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine
from tests.conftest import ServerUrls

pytestmark = pytest.mark.sqlite
HEADERS = {"Client-ID": "0" * 32, "X-Project-Id": "p"}


def test_create_app_migrates_a_new_sqlite_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/new/q.db")
    client = falcon.testing.TestClient(bootstrap.create_app(settings))
    assert client.simulate_put("/v2/queues/q", headers=HEADERS).status_code == 201
    assert client.simulate_get("/v2/ping", headers=HEADERS).status_code == 204


def test_create_app_in_memory() -> None:
    client = falcon.testing.TestClient(bootstrap.create_app(Settings(database_url="sqlite://")))
    body = {"messages": [{"body": 1}]}
    result = client.simulate_post("/v2/queues/q/messages", json=body, headers=HEADERS)
    assert result.status_code == 201


@pytest.mark.postgresql
def test_prepare_refuses_a_stale_server_schema(server_urls: ServerUrls) -> None:
    url = server_urls.url("postgresql", "bootstrap_stale")
    engine = make_engine(url)
    migrate.upgrade(engine, "0002")
    with pytest.raises(SchemaMismatch) as refused:
        bootstrap.prepare_database(Settings(database_url=url))
    assert str(refused.value) == (
        f"the database {url} is at schema revision 0002 but this sqlqueue needs "
        f"{migrate.head_revision()}: run `sqlqueue db upgrade --database-url {url}`"
    )
    assert migrate.current_revision(engine) == "0002"  # left alone
    engine.dispose()


def test_prepare_reports_an_unreachable_database() -> None:
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/x")
    says = r"^cannot reach the PostgreSQL server at 127\.0\.0\.1:1 \(connection refused\)"
    with pytest.raises(DatabaseUnreachable, match=says):
        bootstrap.prepare_database(settings)


def test_prepare_upgrades_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    bootstrap.prepare_database(Settings(database_url=url))
    engine = make_engine(url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_describe_hides_passwords() -> None:
    assert "secret" not in bootstrap.describe("postgresql://u:secret@h/db")
    assert bootstrap.describe("sqlite:////tmp/x.db") == "SQLite database /tmp/x.db"


def test_random_secret_when_none_configured() -> None:
    assert bootstrap.signed_url_secret(Settings(signed_url_secret="abc")) == "abc"
    first = bootstrap.signed_url_secret(Settings())
    assert len(first) == 64 and first != bootstrap.signed_url_secret(Settings())


def test_wsgi_module_builds_lazily() -> None:
    built: list[int] = []

    def factory() -> Any:
        built.append(1)
        return bootstrap.create_app(Settings(database_url="sqlite://"))

    app = wsgi.LazyApp(factory)
    assert built == []
    client = falcon.testing.TestClient(app)
    assert client.simulate_get("/").status_code == 300
    assert client.simulate_get("/").status_code == 300
    assert built == [1]
    assert callable(wsgi.app)


class CountingDriver:
    """A driver whose gc fails once, then counts."""

    def __init__(self) -> None:
        self.calls = 0
        self.done = threading.Event()

    def gc(self) -> int:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("database hiccup")
        if self.calls >= 3:
            self.done.set()
        return 0


def test_gc_thread_survives_errors(caplog: pytest.LogCaptureFixture) -> None:
    driver = CountingDriver()
    stop = threading.Event()
    thread = server.start_gc(driver, 0.01, stop)  # type: ignore[arg-type]
    assert thread is not None and thread.daemon
    try:
        assert driver.done.wait(5)
    finally:
        stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert "garbage collection failed" in caplog.text


def test_gc_disabled() -> None:
    assert server.start_gc(CountingDriver(), 0) is None  # type: ignore[arg-type]
