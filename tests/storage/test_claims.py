"""Claim controller contract, on every backend."""

from __future__ import annotations

import pytest

from sqlqueue import errors
from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.base import DataDriver
from tests.storage.helpers import PROJECT, QUEUE, post


def test_lifecycle(driver: DataDriver, clock: ManualClock) -> None:
    post(driver, 20)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=70, grace=30, limit=15)
    assert claim_id is not None and len(claimed) == 15
    assert all(m.claim_id == claim_id and m.claim_count == 1 for m in claimed)
    stats = driver.queues.stats(PROJECT, QUEUE)
    assert (stats.claimed, stats.free, stats.total) == (15, 5, 20)
    clock.advance(5)
    meta, held = driver.claims.get(PROJECT, QUEUE, claim_id)
    assert (meta.id, meta.ttl, meta.grace, meta.age) == (claim_id, 70, 30, 5)
    assert [(m.id, m.body, m.ttl) for m in held] == [(m.id, m.body, m.ttl) for m in claimed]
    driver.claims.update(PROJECT, QUEUE, claim_id, ttl=100, grace=60)
    meta, _ = driver.claims.get(PROJECT, QUEUE, claim_id)
    assert (meta.ttl, meta.age) == (100, 0)
    driver.claims.delete(PROJECT, QUEUE, claim_id)
    with pytest.raises(errors.ClaimDoesNotExist):
        driver.claims.get(PROJECT, QUEUE, claim_id)
    assert driver.queues.stats(PROJECT, QUEUE).claimed == 0


def test_consecutive_claims_do_not_overlap(driver: DataDriver) -> None:
    post(driver, 51)
    seen: list[str] = []
    for _ in range(5):
        _, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
        assert len(claimed) == 10
        seen += [m.id for m in claimed]
    assert len(set(seen)) == 50
    assert len(driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)[1]) == 1
    assert driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60) == (None, [])


def test_claims_oldest_first(driver: DataDriver) -> None:
    ids = post(driver, 4)
    assert [
        m.id for m in driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=3)[1]
    ] == ids[:3]


@pytest.mark.parametrize(
    ("ttl", "grace", "expected"), [(777, 0, 777), (777, 23, 800), (121, 22, 143), (60, 30, 120)]
)
def test_lifetime_extension(driver: DataDriver, ttl: int, grace: int, expected: int) -> None:
    post(driver, 1, ttl=120)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=ttl, grace=grace)
    assert claim_id is not None and claimed[0].ttl == expected
    assert driver.messages.get(PROJECT, QUEUE, claimed[0].id).ttl == expected


def test_one_claim_extends_only_the_lifetimes_shorter_than_it(driver: DataDriver) -> None:
    short, long_ = post(driver, 1, ttl=100) + post(driver, 1, ttl=1000)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=300, grace=20)
    assert claim_id is not None
    assert {m.id: m.ttl for m in claimed} == {short: 320, long_: 1000}
    assert [driver.messages.get(PROJECT, QUEUE, m).ttl for m in (short, long_)] == [320, 1000]


def test_extension_keeps_message_alive(driver: DataDriver, clock: ManualClock) -> None:
    [mid] = post(driver, 1, ttl=60)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=300, grace=60)
    clock.advance(200)
    assert driver.messages.get(PROJECT, QUEUE, mid).claim_id == claim_id
    clock.advance(150)
    assert driver.messages.get(PROJECT, QUEUE, mid).claim_id is None
    clock.advance(11)
    with pytest.raises(errors.MessageDoesNotExist):
        driver.messages.get(PROJECT, QUEUE, mid)


def test_update_extends_messages(driver: DataDriver, clock: ManualClock) -> None:
    [mid] = post(driver, 1, ttl=100)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=0)
    clock.advance(50)
    assert claim_id is not None
    driver.claims.update(PROJECT, QUEUE, claim_id, ttl=300, grace=10)
    clock.advance(250)
    assert driver.messages.get(PROJECT, QUEUE, mid).claim_id == claim_id
    assert driver.messages.get(PROJECT, QUEUE, mid).ttl == 310


def test_expired_claim(driver: DataDriver, clock: ManualClock) -> None:
    ids = post(driver, 3)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=0)
    assert claim_id is not None
    clock.advance(60)
    with pytest.raises(errors.ClaimDoesNotExist):
        driver.claims.get(PROJECT, QUEUE, claim_id)
    with pytest.raises(errors.ClaimDoesNotExist):
        driver.claims.update(PROJECT, QUEUE, claim_id, ttl=60, grace=60)
    driver.messages.delete(PROJECT, QUEUE, ids[0])
    driver.messages.bulk_delete(PROJECT, QUEUE, ids[1:])
    assert driver.queues.stats(PROJECT, QUEUE).total == 0


def test_expired_claim_frees_messages_without_sweeper(
    driver: DataDriver, clock: ManualClock
) -> None:
    ids = post(driver, 2)
    first, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    clock.advance(61)
    second, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert second != first and [m.id for m in claimed] == ids
    assert [m.claim_count for m in claimed] == [2, 2]
    assert len(driver.messages.list(PROJECT, QUEUE, echo=True).items) == 0


def test_claim_effects_on_listing_and_delete(driver: DataDriver) -> None:
    ids = post(driver, 4)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=2)
    other, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=1)
    assert claim_id and other
    assert len(driver.messages.list(PROJECT, QUEUE, echo=True, include_claimed=True).items) == 4
    assert [m.id for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == ids[3:]
    with pytest.raises(errors.MessageNotClaimedBy):
        driver.messages.delete(PROJECT, QUEUE, claimed[0].id, claim_id=other)
    with pytest.raises(errors.MessageIsClaimed):
        driver.messages.delete(PROJECT, QUEUE, claimed[0].id)
    with pytest.raises(errors.MessageNotClaimed):
        driver.messages.delete(PROJECT, QUEUE, ids[3], claim_id=claim_id)
    driver.messages.delete(PROJECT, QUEUE, claimed[0].id, claim_id=claim_id)
    driver.messages.delete(PROJECT, QUEUE, claimed[0].id, claim_id=claim_id)
    driver.claims.delete(PROJECT, QUEUE, claim_id)
    with pytest.raises(errors.NotPermitted):
        driver.messages.delete(PROJECT, QUEUE, claimed[1].id, claim_id=claim_id)


def test_delete_with_expired_claim_is_refused(driver: DataDriver, clock: ManualClock) -> None:
    post(driver, 1)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    clock.advance(60)
    with pytest.raises(errors.MessageNotClaimed):
        driver.messages.delete(PROJECT, QUEUE, claimed[0].id, claim_id=claim_id)
    driver.messages.delete(PROJECT, QUEUE, claimed[0].id)


def test_claim_whose_messages_are_gone(driver: DataDriver) -> None:
    post(driver, 2)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert claim_id is not None
    driver.messages.bulk_delete(PROJECT, QUEUE, [m.id for m in claimed])
    with pytest.raises(errors.ClaimDoesNotExist):
        driver.claims.get(PROJECT, QUEUE, claim_id)


def test_ill_formed_and_foreign_claim_ids(driver: DataDriver) -> None:
    post(driver, 1)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert claim_id is not None
    driver.claims.delete(PROJECT, QUEUE, "illformed")
    for bad in ("illformed", "0" * 32):
        with pytest.raises(errors.ClaimDoesNotExist):
            driver.claims.get(PROJECT, QUEUE, bad)
        with pytest.raises(errors.ClaimDoesNotExist):
            driver.claims.update(PROJECT, QUEUE, bad, ttl=60, grace=60)
    with pytest.raises(errors.ClaimDoesNotExist):
        driver.claims.get("intruder", QUEUE, claim_id)
    driver.claims.delete("intruder", QUEUE, claim_id)
    assert driver.claims.get(PROJECT, QUEUE, claim_id)[0].id == claim_id


def test_claim_on_missing_queue(driver: DataDriver) -> None:
    assert driver.claims.create(PROJECT, "missing", ttl=60, grace=60) == (None, [])


def test_dead_letter_queue(driver: DataDriver) -> None:
    meta = {
        "_max_claim_count": 2,
        "_dead_letter_queue": "dlq",
        "_dead_letter_queue_messages_ttl": 9999,
    }
    driver.queues.create(PROJECT, QUEUE, meta)
    [mid] = post(driver, 1)
    for _ in range(2):
        claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
        assert [m.id for m in claimed] == [mid]
        assert claim_id is not None
        driver.claims.delete(PROJECT, QUEUE, claim_id)
    assert driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60) == (None, [])
    assert driver.messages.list(PROJECT, QUEUE, echo=True, include_claimed=True).items == []
    [moved] = driver.messages.list(PROJECT, "dlq", echo=True).items
    assert (moved.id, moved.ttl, moved.body) == (mid, 9999, {"n": 0})


def test_bulk_delete_by_claim_ids_takes_only_what_live_claims_hold(
    driver: DataDriver, clock: ManualClock
) -> None:
    ids = post(driver, 6)
    first, held = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=2)
    second, other = driver.claims.create(PROJECT, QUEUE, ttl=10, grace=60, limit=2)
    assert first is not None and second is not None
    assert [m.id for m in held + other] == ids[:4]
    # each (ids, claims) shape is its own prepared statement: run two shapes twice
    for _ in range(2):
        driver.messages.bulk_delete(PROJECT, QUEUE, ids, claim_ids=[])
        driver.messages.bulk_delete(PROJECT, QUEUE, [ids[4]], claim_ids=[first, first])
    assert driver.queues.stats(PROJECT, QUEUE).total == 6
    clock.advance(11)  # the second claim has expired: its messages are not held
    driver.messages.bulk_delete(PROJECT, QUEUE, ids, claim_ids=[first, first, second])
    left = driver.messages.list(PROJECT, QUEUE, include_claimed=True, echo=True)
    assert [m.id for m in left.items] == ids[2:]
    stats = driver.queues.stats(PROJECT, QUEUE)
    assert (stats.total, stats.claimed) == (4, 0)
