"""Connections kept between units of work (storage/sql/held.py) behave as pooled ones did.

A unit of work that failed after writing leaves nothing behind (no open
transaction, no lock); many drivers on one engine never empty its pool; a
kept connection the server dropped is replaced after one failed request.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sqlqueue import errors
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql import hot, migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import queues
from tests.conftest import ServerUrls
from tests.storage.helpers import CLIENT, PROJECT, QUEUE


class Refused(Exception):
    """What the unit of work below raises after its write."""


_BUMP = sa.update(queues).where(queues.c.name == QUEUE).values(next_marker=queues.c.next_marker + 5)


def _bump_then_fail(conn: Connection) -> None:
    """A write on the driver's cursor, as the hot paths write (SQLAlchemy sees no transaction)."""
    hot.execute(conn, _BUMP, {})
    raise Refused


def _lock_row_at_once(engine: Engine, backend: str) -> int:
    """The queue's ``next_marker``, read under a row lock that must be free now."""
    with engine.connect() as conn, conn.begin():
        if backend == "postgresql":
            conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
        elif backend == "mysql":
            conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 2")
        stmt = sa.select(queues.c.next_marker).where(queues.c.name == QUEUE)
        if backend != "sqlite":
            stmt = stmt.with_for_update()
        else:
            conn.exec_driver_sql("UPDATE queues SET updated_at = updated_at")  # the write lock
        return int(conn.execute(stmt).scalar_one())


def test_a_failed_unit_leaves_no_transaction_open(driver: SqlDataDriver, backend: str) -> None:
    """The pool resets nothing on check-in, so the unit itself must roll back."""
    driver.messages.post(PROJECT, QUEUE, [NewMessage(1)], CLIENT)
    before = _lock_row_at_once(driver.db.engine, backend)
    for _ in range(3):  # the same kept connection, again and again
        with pytest.raises(Refused):
            driver.db.run(_bump_then_fail)
    assert _lock_row_at_once(driver.db.engine, backend) == before  # nothing kept, nothing locked
    driver.messages.post(PROJECT, QUEUE, [NewMessage(2)], CLIENT)
    assert [m.body for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == [1, 2]


def test_many_drivers_on_one_engine_never_empty_its_pool(
    server_urls: ServerUrls, backend: str
) -> None:
    """Every driver of an engine shares its kept connections: eight drivers and four
    threads on a pool of four connections, without overflow, all get served."""
    engine = make_engine(
        server_urls.url(backend, "held"), pool_size=4, max_overflow=0, pool_timeout=5
    )
    migrate.upgrade(engine)
    drivers = [SqlDataDriver(engine) for _ in range(8)]
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for round_no in range(10):
                for driver in drivers:
                    driver.messages.post(PROJECT, f"q{index}", [NewMessage(round_no)], CLIENT)
        except BaseException as ex:  # reported below
            failures.append(ex)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert [drivers[0].queues.stats(PROJECT, f"q{i}").total for i in range(4)] == [80] * 4
        with engine.connect() as conn:  # and one more connection is still to be had
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        for driver in drivers:
            driver.close()
        engine.dispose()


@pytest.mark.postgresql
def test_a_kept_connection_the_server_dropped_fails_one_request_only(
    server_urls: ServerUrls,
) -> None:
    """As a pooled connection used a moment before the server restarted: one 503, then
    every kept connection is handed back to the pool, which replaces them."""
    url = server_urls.url("postgresql", "held_dropped")
    engine = make_engine(url)
    migrate.upgrade(engine)
    driver = SqlDataDriver(engine)
    try:
        barrier = threading.Barrier(3)

        def post(index: int) -> None:  # three connections in use at once, then kept
            barrier.wait(5)
            driver.messages.post(PROJECT, QUEUE, [NewMessage(index)], CLIENT)

        posters = [threading.Thread(target=post, args=(i,)) for i in range(3)]
        for thread in posters:
            thread.start()
        for thread in posters:
            thread.join(10)
        _kill_others(url)
        outcomes: list[Any] = []
        for _ in range(4):
            try:
                outcomes.append(len(driver.messages.list(PROJECT, QUEUE, echo=True).items))
            except errors.StorageUnavailable:
                outcomes.append("503")
        assert outcomes.count("503") <= 1 and outcomes[-3:] == [3, 3, 3]
    finally:
        driver.close()
        engine.dispose()


def _kill_others(url: str) -> None:
    killer = make_engine(url)
    try:
        with killer.connect() as admin:
            admin.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            admin.commit()
    finally:
        killer.dispose()


def test_an_engine_nobody_holds_is_collected(server_urls: ServerUrls, backend: str) -> None:
    """Kept connections refer to their engine: the registry of stacks must not keep an
    engine (and every connection of its pool) alive after its last driver is gone."""
    engine = make_engine(server_urls.url(backend, "held_gc"))
    migrate.upgrade(engine)
    driver = SqlDataDriver(engine)
    driver.messages.post(PROJECT, QUEUE, [NewMessage(1)], CLIENT)  # a connection is kept
    gone = weakref.ref(engine)
    del driver, engine
    gc.collect()
    assert gone() is None
