"""gc's backlog count and its progress reports, on every backend.

``gc_backlog`` counts what the next ``gc`` removes (the total of a progress
bar); ``gc`` reports each committed batch, and what the report raises stops
it between two batches with every removed row counted.
"""

from __future__ import annotations

import pytest

from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.storage.helpers import CLIENT, PROJECT


class Stop(Exception):
    """Raised by a progress report to stop gc."""


def expire(driver: SqlDataDriver, clock: ManualClock, per_queue: dict[str, int]) -> None:
    """Post short-lived messages to each queue, then let them expire."""
    for queue, count in per_queue.items():
        driver.messages.post(PROJECT, queue, [NewMessage(n, ttl=60) for n in range(count)], CLIENT)
    driver.claims.create(PROJECT, "a", ttl=60, grace=0, limit=1)  # one claim row to expire too
    clock.advance(200)


@pytest.fixture
def small_batches(driver: SqlDataDriver, clock: ManualClock) -> SqlDataDriver:
    """The driver under test, collecting 10 rows per batch."""
    return SqlDataDriver(driver.engine, clock=clock, options=StorageOptions(gc_batch=10))


def test_the_backlog_is_what_gc_removes_batch_by_batch(
    small_batches: SqlDataDriver, clock: ManualClock
) -> None:
    expire(small_batches, clock, {"a": 25, "b": 7})
    assert small_batches.gc_backlog() == 25 + 7 + 1  # messages and the claim
    reports: list[int] = []
    assert small_batches.gc(reports.append) == 33
    assert sum(reports) == 33 and max(reports) == 10
    assert small_batches.gc_backlog() == 0


def test_a_report_that_raises_stops_gc_between_batches(
    small_batches: SqlDataDriver, clock: ManualClock
) -> None:
    expire(small_batches, clock, {"a": 25})
    seen: list[int] = []

    def stop_after_two(removed: int) -> None:
        seen.append(removed)
        if len(seen) == 2:
            raise Stop

    with pytest.raises(Stop):
        small_batches.gc(stop_after_two)
    assert seen == [10, 10]
    assert small_batches.gc_backlog() == 26 - 20  # 5 messages and the claim are left
    stats = small_batches.queues.stats(PROJECT, "a")
    assert stats.total == 0  # expired rows never count, collected or not
    assert small_batches.gc() == 6
