"""Queue stats contract, on every backend."""

from __future__ import annotations

from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.base import DataDriver
from tests.storage.helpers import PROJECT, QUEUE, post


def test_empty_and_missing_queue(driver: DataDriver) -> None:
    driver.queues.create(PROJECT, QUEUE)
    for name in (QUEUE, "missing"):
        stats = driver.queues.stats(PROJECT, name)
        assert (stats.free, stats.claimed, stats.total) == (0, 0, 0)
        assert stats.oldest is None and stats.newest is None


def test_oldest_and_newest(driver: DataDriver, clock: ManualClock) -> None:
    first = post(driver, 6)
    clock.advance(1.2)
    last = post(driver, 6)
    clock.advance(2)
    stats = driver.queues.stats(PROJECT, QUEUE)
    assert (stats.free, stats.claimed, stats.total) == (12, 0, 12)
    assert stats.oldest is not None and stats.newest is not None
    assert stats.oldest.id == first[0] and stats.newest.id == last[-1]
    assert stats.oldest.created < stats.newest.created <= clock()
    assert stats.oldest.age == 3 and stats.newest.age == 2


def test_claims_move_counts(driver: DataDriver) -> None:
    post(driver, 15)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert claim_id and len(claimed) == 10
    assert _counts(driver) == (5, 10, 15)
    driver.messages.delete(PROJECT, QUEUE, claimed[0].id, claim_id=claim_id)
    assert _counts(driver) == (5, 9, 14)
    driver.messages.bulk_delete(PROJECT, QUEUE, [claimed[1].id, claimed[2].id, "nope"])
    assert _counts(driver) == (5, 7, 12)
    driver.claims.delete(PROJECT, QUEUE, claim_id)
    assert _counts(driver) == (12, 0, 12)


def test_expired_claims_count_as_free(driver: DataDriver, clock: ManualClock) -> None:
    post(driver, 3, ttl=600)
    driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    clock.advance(61)
    assert _counts(driver) == (3, 0, 3)


def _counts(driver: DataDriver) -> tuple[int, int, int]:
    stats = driver.queues.stats(PROJECT, QUEUE)
    return stats.free, stats.claimed, stats.total
