"""Storage halves of issue 8's input faults, on every backend.

Ages are whole seconds since creation and never negative, even when a
reader's clock reading precedes a row a concurrent writer stamped and
committed before the reader's statement ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.storage.helpers import CLIENT, PROJECT, QUEUE, post
from tests.threads import run_threads

# 2. Negative ages -----------------------------------------------------------


def test_ages_of_rows_stamped_after_the_readers_clock_are_zero(
    driver: SqlDataDriver, clock: ManualClock
) -> None:
    clock.advance(0.5)
    (message_id,) = post(driver, 1)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert claim_id is not None
    sub_id = driver.subscriptions.create(PROJECT, QUEUE, "http://a.example", 60, {})
    assert sub_id is not None
    clock.advance(-0.5)  # the reader read the clock before those writes

    stats = driver.queues.stats(PROJECT, QUEUE)
    assert stats.newest is not None and stats.oldest is not None
    assert (stats.newest.age, stats.oldest.age) == (0, 0)
    claim, held = driver.claims.get(PROJECT, QUEUE, claim_id)
    assert claim.age == 0
    assert [m.age for m in held] == [0]
    assert driver.messages.get(PROJECT, QUEUE, message_id).age == 0
    assert driver.subscriptions.get(PROJECT, QUEUE, sub_id).age == 0


@pytest.fixture
def live_driver(engine: Engine) -> SqlDataDriver:
    """A driver on the real clock, for threads."""
    return SqlDataDriver(engine)


def test_no_negative_age_with_concurrent_posters_renewers_and_readers(
    live_driver: SqlDataDriver,
) -> None:
    driver = live_driver
    post(driver, 2)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=600, grace=60, limit=1)
    assert claim_id is not None
    deadline = time.monotonic() + 1.5
    ages: list[int] = []

    def posting() -> None:
        while time.monotonic() < deadline:
            driver.messages.post(PROJECT, QUEUE, [NewMessage({"n": 1}, ttl=600)], CLIENT)

    def renewing() -> None:
        while time.monotonic() < deadline:
            driver.claims.update(PROJECT, QUEUE, claim_id, ttl=600, grace=60)

    def reading_stats() -> None:
        while time.monotonic() < deadline:
            stats = driver.queues.stats(PROJECT, QUEUE)
            assert stats.newest is not None and stats.oldest is not None
            ages.extend((stats.newest.age, stats.oldest.age))

    def reading_claim() -> None:
        while time.monotonic() < deadline:
            claim, held = driver.claims.get(PROJECT, QUEUE, claim_id)
            ages.extend([claim.age, *(m.age for m in held)])

    workers: list[Callable[[], None]] = [posting, posting, renewing]
    run_threads([*workers, reading_stats, reading_stats, reading_claim], timeout=60)
    assert ages, "the readers read nothing"
    assert min(ages) >= 0
