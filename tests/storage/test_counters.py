"""The SQL counters behind stats: non-FIFO posts and shard rows (SQL only)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.tables import queue_counters
from tests.storage.helpers import PROJECT, QUEUE, post
from tests.storage.test_stats import _counts


def test_non_fifo_posts_are_counted(engine: Engine, clock: ManualClock) -> None:
    driver = SqlDataDriver(engine, clock=clock, options=StorageOptions(fifo=False))
    post(driver, 4)
    post(driver, 1)
    assert _counts(driver) == (5, 0, 5)
    driver.messages.pop(PROJECT, QUEUE, 1)
    assert _counts(driver) == (4, 0, 4)


def test_counts_spread_over_shards(driver: SqlDataDriver) -> None:
    """Consumers write to several shard rows, not one hot row."""
    ids = post(driver, 60)
    for mid in ids[:40]:
        driver.messages.delete(PROJECT, QUEUE, mid)
    with driver.engine.connect() as conn:
        shards = conn.execute(sa.select(queue_counters.c.shard, queue_counters.c.delta)).all()
    assert len(shards) > 1
    assert sum(delta for _, delta in shards) == -40
    assert _counts(driver) == (20, 0, 20)
