"""FIFO queues serialise producers on the queue's counter; non-FIFO ones do not.

A "slow producer" is simulated with a raw transaction left open in the
middle of a post. SQLite serialises every writer anyway, so this runs on the
server databases only.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.messages import insert_rows, new_rows, reserve_markers
from tests.storage.helpers import CLIENT, PROJECT, QUEUE

pytestmark = pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
    indirect=True,
)


def _post_in_thread(driver: SqlDataDriver) -> tuple[threading.Thread, list[str]]:
    out: list[str] = []
    thread = threading.Thread(
        target=lambda: out.extend(driver.messages.post(PROJECT, QUEUE, [NewMessage(2)], CLIENT))
    )
    thread.start()
    return thread, out


def test_fifo_post_waits_for_the_producer_ahead(engine: Engine) -> None:
    driver = SqlDataDriver(engine)
    driver.queues.create(PROJECT, QUEUE)
    with engine.connect() as slow:
        slow.begin()
        now = int(time.time() * 1000)
        reserved = reserve_markers(slow, PROJECT, QUEUE, 1, now)
        insert_rows(slow, new_rows(reserved[0], reserved[2], [NewMessage(1)], {}, CLIENT, now, 60))
        thread, out = _post_in_thread(driver)
        thread.join(0.5)
        assert thread.is_alive(), "a FIFO post must wait for the counter row"
        slow.commit()
    thread.join(10)
    listed = driver.messages.list(PROJECT, QUEUE, echo=True).items
    assert [m.body for m in listed] == [1, 2] and out == [listed[1].id]


def test_non_fifo_post_does_not_wait(engine: Engine) -> None:
    driver = SqlDataDriver(engine, options=StorageOptions(fifo=False))
    driver.queues.create(PROJECT, QUEUE)
    with engine.connect() as slow:
        now = int(time.time() * 1000)
        with slow.begin():
            reserved = reserve_markers(slow, PROJECT, QUEUE, 1, now)
        slow.begin()
        insert_rows(slow, new_rows(reserved[0], reserved[2], [NewMessage(1)], {}, CLIENT, now, 60))
        thread, out = _post_in_thread(driver)
        thread.join(10)
        assert not thread.is_alive() and len(out) == 1, "a non-FIFO post must not wait"
        # The later message is visible before the earlier one commits: the
        # price of non-FIFO (a marker reader can skip the slow one).
        assert [m.body for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == [2]
        slow.commit()
    assert [m.body for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == [1, 2]
    count = sa.select(sa.func.count()).select_from(sa.table("messages"))
    with engine.connect() as conn:
        assert conn.execute(count).scalar_one() == 2
