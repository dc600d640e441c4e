"""A deadlock is retried and counted (``sqlqueue_database_retries_total``).

Two transactions lock two queue rows in opposite orders; the database
aborts one (PostgreSQL 40P01, MySQL 1213), ``Database.run`` runs it again,
and both end up committed. SQLite has one writer at a time: no deadlock.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.engine import Connection

from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.tables import queues
from tests.storage.helpers import PROJECT

SERVERS = [
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


def retries() -> float:
    return REGISTRY.get_sample_value("sqlqueue_database_retries_total") or 0.0


def updated(driver: SqlDataDriver) -> list[int]:
    """``updated_at`` of queues a and b."""
    stmt = sa.select(queues.c.updated_at).where(queues.c.project == PROJECT).order_by(queues.c.name)
    with driver.engine.connect() as conn:
        return [int(value) for value in conn.execute(stmt).scalars()]


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_deadlocked_transaction_is_run_again_and_counted(driver: SqlDataDriver) -> None:
    for name in ("a", "b"):
        driver.queues.create(PROJECT, name)
    both_hold_one = threading.Barrier(2, timeout=10)
    before = retries()
    stamps = updated(driver)

    def touch(conn: Connection, name: str) -> None:
        where = (queues.c.project == PROJECT, queues.c.name == name)
        conn.execute(sa.update(queues).where(*where).values(updated_at=queues.c.updated_at + 1))

    def crossing(first: str, second: str) -> None:
        attempts = 0

        def work(conn: Connection) -> None:
            nonlocal attempts
            attempts += 1
            touch(conn, first)
            if attempts == 1:  # only the first attempt waits for the other to hold its row
                both_hold_one.wait()
            touch(conn, second)

        driver.db.run(work)

    threads = [
        threading.Thread(target=crossing, args=("a", "b")),
        threading.Thread(target=crossing, args=("b", "a")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert retries() >= before + 1
    assert updated(driver) == [stamp + 2 for stamp in stamps]  # both committed, once each
