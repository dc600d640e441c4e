"""A server that drops its connections: the next request reconnects by itself."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql import engine as engine_module
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from tests.conftest import ServerUrls
from tests.storage.helpers import CLIENT, PROJECT, QUEUE

KILL = sa.text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.mark.postgresql
def test_idle_dead_connections_are_replaced(
    server_urls: ServerUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)
    engine = make_engine(server_urls.url("postgresql", "reconnect"))
    migrate.upgrade(engine)
    driver = SqlDataDriver(engine)
    driver.messages.post(PROJECT, QUEUE, [NewMessage(1)], CLIENT)
    killer = make_engine(server_urls.url("postgresql", "reconnect"))
    with killer.connect() as admin:
        admin.execute(KILL)
        admin.commit()
    killer.dispose()
    driver.messages.post(PROJECT, QUEUE, [NewMessage(2)], CLIENT)
    assert [m.body for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == [1, 2]
    engine.dispose()


@pytest.mark.mysql
def test_mysql_connections_share_one_tls_context_and_work(server_urls: ServerUrls) -> None:
    """PyMySQL builds a TLS context per connection (17 ms of CPU) unless given one:
    every connection of an engine, and of another engine, gets the same one."""
    url = server_urls.url("mysql", "tls")
    engines = [make_engine(url, pool_size=1, max_overflow=1), make_engine(url)]
    try:
        contexts, answers = [], []
        for engine in (engines[0], engines[0], engines[1]):
            with engine.connect() as first, engine.connect() as second:
                for conn in (first, second):
                    contexts.append(conn.connection.driver_connection.ctx)
                    answers.append(conn.execute(sa.text("SELECT 1")).scalar())
        assert answers == [1] * 6
        assert len({id(ctx) for ctx in contexts}) == 1 and contexts[0] is not None
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.postgresql
def test_a_long_poll_is_woken_after_the_server_closed_every_connection(
    server_urls: ServerUrls,
) -> None:
    """The LISTEN connection comes from the pool: with every pooled connection closed by
    the server (a restart), the first LISTEN fails and the next, on a new connection,
    must hear the post at once, not one dead pooled connection a second later."""
    url = server_urls.url("postgresql", "relisten")
    engine = make_engine(url)
    migrate.upgrade(engine)
    waiting, posting = SqlDataDriver(engine), SqlDataDriver(make_engine(url))
    try:
        waiting.queues.create(PROJECT, QUEUE, {})
        with engine.connect() as a, engine.connect() as b, engine.connect() as c:
            for conn in (a, b, c):  # three connections back in the pool, used just now
                conn.execute(sa.text("SELECT 1"))
        killer = make_engine(url)
        with killer.connect() as admin:
            admin.execute(KILL)
            admin.commit()
        killer.dispose()
        waiter = waiting.wakeups.join(PROJECT, QUEUE, consumes=True)
        poster = threading.Timer(
            1.5, lambda: posting.messages.post(PROJECT, QUEUE, [NewMessage(1)], CLIENT)
        )
        poster.start()
        started, wakes = time.monotonic(), 1
        # the first wait starts LISTEN, whose failure on a dead connection renews the pool
        assert waiting.wakeups.wait(waiter, 10)
        while not waiting.messages.list(PROJECT, QUEUE, echo=True).items:
            assert waiting.wakeups.wait(waiter, 10 - (time.monotonic() - started))
            wakes += 1
        poster.join()
        assert time.monotonic() - started < 2.5  # 1.5 s until the post, then woken by it
        assert wakes <= 2  # LISTEN's start (it may have missed a post), then the post
    finally:
        waiting.close()
        posting.close()
