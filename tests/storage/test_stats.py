"""Queue stats contract, on every backend."""

from __future__ import annotations

import pytest

from sqlqueue import errors
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import DataDriver
from tests.storage.helpers import CLIENT, PROJECT, QUEUE, post


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


def test_expired_messages_are_not_counted_before_or_after_gc(
    driver: DataDriver, clock: ManualClock
) -> None:
    post(driver, 4, ttl=60)
    keep = post(driver, 3, ttl=600)
    clock.advance(61)
    assert _counts(driver) == (3, 0, 3)
    stats = driver.queues.stats(PROJECT, QUEUE)
    assert stats.oldest is not None and stats.oldest.id == keep[0]
    assert driver.gc() == 4
    assert _counts(driver) == (3, 0, 3)
    clock.advance(600)
    assert _counts(driver) == (0, 0, 0)
    driver.gc()
    post(driver, 2)
    assert _counts(driver) == (2, 0, 2)


def test_every_write_path_keeps_counts_exact(driver: DataDriver) -> None:
    """Counts after post, pop, delete, bulk delete (with and without claims), release."""
    ids = post(driver, 30)
    assert _counts(driver) == (30, 0, 30)
    assert len(driver.messages.pop(PROJECT, QUEUE, 3)) == 3
    assert _counts(driver) == (27, 0, 27)
    driver.messages.delete(PROJECT, QUEUE, ids[5])
    driver.messages.delete(PROJECT, QUEUE, ids[5])  # already gone: counted once
    assert _counts(driver) == (26, 0, 26)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=5)
    assert claim_id and _counts(driver) == (21, 5, 26)
    with pytest.raises(errors.MessageIsClaimed):
        driver.messages.delete(PROJECT, QUEUE, claimed[0].id)
    assert _counts(driver) == (21, 5, 26)
    driver.messages.bulk_delete(PROJECT, QUEUE, [m.id for m in claimed[:2]], claim_ids=[claim_id])
    assert _counts(driver) == (21, 3, 24)
    driver.messages.bulk_delete(PROJECT, QUEUE, [ids[20], ids[21], claimed[2].id])
    assert _counts(driver) == (19, 2, 21)
    driver.claims.delete(PROJECT, QUEUE, claim_id)
    assert _counts(driver) == (21, 0, 21)


def test_dead_lettering_moves_the_count(driver: DataDriver) -> None:
    meta = {"_max_claim_count": 1, "_dead_letter_queue": "dlq"}
    driver.queues.create(PROJECT, QUEUE, meta)
    post(driver, 3)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=0)
    assert claim_id
    driver.claims.delete(PROJECT, QUEUE, claim_id)
    assert driver.claims.create(PROJECT, QUEUE, ttl=60, grace=0) == (None, [])
    assert _counts(driver) == (0, 0, 0)
    assert _counts(driver, "dlq") == (3, 0, 3)


def test_deleted_queue_starts_again_from_zero(driver: DataDriver) -> None:
    post(driver, 5)
    driver.messages.pop(PROJECT, QUEUE, 2)
    driver.queues.delete(PROJECT, QUEUE)
    assert _counts(driver) == (0, 0, 0)
    post(driver, 1)
    assert _counts(driver) == (1, 0, 1)


def test_refused_post_counts_nothing(driver: DataDriver) -> None:
    driver.queues.create(PROJECT, QUEUE, {"_max_messages_post_size": 10})
    with pytest.raises(errors.ValidationFailed):
        driver.messages.post(PROJECT, QUEUE, [NewMessage({"n": 1})], CLIENT, size=100)
    assert _counts(driver) == (0, 0, 0)


def _counts(driver: DataDriver, queue: str = QUEUE) -> tuple[int, int, int]:
    stats = driver.queues.stats(PROJECT, queue)
    return stats.free, stats.claimed, stats.total


def test_posted_counts_every_message_ever_posted(driver: DataDriver, clock: ManualClock) -> None:
    driver.queues.create(PROJECT, QUEUE)
    assert driver.queues.stats(PROJECT, QUEUE).posted == 0
    post(driver, 3, ttl=60)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=2)
    driver.messages.delete(PROJECT, QUEUE, claimed[0].id, claim_id=claim_id)
    stats = driver.queues.stats(PROJECT, QUEUE)
    assert (stats.posted, stats.total) == (3, 2)
    clock.advance(61)  # every message expired: gone from the counts, still posted
    stats = driver.queues.stats(PROJECT, QUEUE)
    assert (stats.posted, stats.total) == (3, 0)
    assert driver.queues.stats(PROJECT, "missing").posted == 0
