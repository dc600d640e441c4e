"""One test for each mistake of Marconi's 2014 SQL driver (storage.md, Part 2).

The concurrency halves of these (ids returned to the right producer, no
steal between claimers, no double pop, no skipped marker) are in
test_concurrency.py, where they really run at once.
"""

from __future__ import annotations

from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.base import DataDriver
from tests.storage.helpers import PROJECT, QUEUE, post


def test_markers_are_per_queue_and_never_reused(driver: DataDriver) -> None:
    post(driver, 3, queue="other")
    ids = post(driver, 3)
    assert [m.marker for m in driver.messages.bulk_get(PROJECT, QUEUE, ids)] == [1, 2, 3]
    driver.messages.bulk_delete(PROJECT, QUEUE, ids)
    again = post(driver, 1)
    assert driver.messages.get(PROJECT, QUEUE, again[0]).marker == 4
    assert again[0] not in ids


def test_listing_is_ordered_by_marker_not_storage_order(driver: DataDriver) -> None:
    ids = [post(driver, 1, queue=f"q{i % 3}")[0] for i in range(9)]
    listed = driver.messages.list(PROJECT, "q0", echo=True).items
    assert [m.id for m in listed] == ids[0::3]


def test_expiry_is_exact_on_every_backend(driver: DataDriver, clock: ManualClock) -> None:
    [mid] = post(driver, 1, ttl=60)
    clock.advance(59.999)
    assert driver.messages.get(PROJECT, QUEUE, mid).age == 59
    clock.advance(0.001)
    assert driver.messages.bulk_get(PROJECT, QUEUE, [mid]) == []


def test_claiming_does_not_restart_a_message_age(driver: DataDriver, clock: ManualClock) -> None:
    [mid] = post(driver, 1, ttl=120)
    clock.advance(100)
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=0)
    assert claimed[0].age == 100
    # 20 s of life were left, less than the claim's 60: the message is extended.
    clock.advance(59)
    assert driver.messages.get(PROJECT, QUEUE, mid).claim_id == claim_id
    assert driver.messages.get(PROJECT, QUEUE, mid).age == 159


def test_expired_claim_shows_in_listing_without_a_new_claim(
    driver: DataDriver, clock: ManualClock
) -> None:
    ids = post(driver, 2)
    driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert driver.messages.list(PROJECT, QUEUE, echo=True).items == []
    clock.advance(60)
    assert [m.id for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == ids
    assert all(m.claim_id is None for m in driver.messages.bulk_get(PROJECT, QUEUE, ids))


def test_claim_update_touches_only_its_own_messages(driver: DataDriver, clock: ManualClock) -> None:
    post(driver, 2)
    first, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=1)
    second, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=1)
    assert first and second
    driver.claims.update(PROJECT, QUEUE, first, ttl=600, grace=60)
    clock.advance(61)
    assert driver.claims.get(PROJECT, QUEUE, first)[0].ttl == 600
    assert len(driver.messages.list(PROJECT, QUEUE, echo=True).items) == 1


def test_claim_of_one_queue_cannot_touch_another(driver: DataDriver) -> None:
    [other] = post(driver, 1, queue="other")
    post(driver, 1)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert claim_id is not None
    driver.claims.delete(PROJECT, "other", claim_id)
    assert driver.claims.get(PROJECT, QUEUE, claim_id)[0].id == claim_id
    driver.claims.create(PROJECT, "other", ttl=60, grace=60)
    assert driver.messages.get(PROJECT, "other", other).claim_id not in (None, claim_id)
