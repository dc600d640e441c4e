"""Subscription controller contract, on every backend."""

from __future__ import annotations

import pytest

from sqlqueue import errors
from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.base import DataDriver
from tests.storage.helpers import PROJECT, QUEUE


def _create(driver: DataDriver, n: int, queue: str = QUEUE, start: int = 0) -> list[str]:
    made = []
    for i in range(start, start + n):
        sid = driver.subscriptions.create(PROJECT, queue, f"http://h/{i}", 600, {"i": i})
        assert sid is not None
        made.append(sid)
    return made


def test_list_pages_in_creation_order(driver: DataDriver, clock: ManualClock) -> None:
    made = []
    for i in range(15):
        made += _create(driver, 1, start=i)
        clock.advance(0.001)
    first = driver.subscriptions.list(PROJECT, QUEUE)
    assert [s.id for s in first.items] == made[:10]
    second = driver.subscriptions.list(PROJECT, QUEUE, marker=first.next_marker)
    assert [s.id for s in second.items] == made[10:]
    assert all(s.source == QUEUE and s.subscriber.startswith("http") for s in second.items)


def test_lifecycle(driver: DataDriver, clock: ManualClock) -> None:
    [sid] = _create(driver, 1)
    sub = driver.subscriptions.get(PROJECT, QUEUE, sid)
    assert (sub.subscriber, sub.ttl, sub.options, sub.confirmed) == (
        "http://h/0",
        600,
        {"i": 0},
        False,
    )
    assert driver.subscriptions.create(PROJECT, QUEUE, "http://h/0", 600, {}) is None
    assert driver.subscriptions.create(PROJECT, "other", "http://h/0", 600, {}) is not None
    driver.subscriptions.update(PROJECT, QUEUE, sid, subscriber="mailto:a@b.c", options={"x": 1})
    assert driver.subscriptions.get(PROJECT, QUEUE, sid).options == {"x": 1}
    driver.subscriptions.confirm(PROJECT, QUEUE, sid, True)
    assert driver.subscriptions.get(PROJECT, QUEUE, sid).confirmed is True
    assert driver.subscriptions.find(PROJECT, QUEUE, "mailto:a@b.c") is not None
    driver.subscriptions.delete(PROJECT, QUEUE, sid)
    driver.subscriptions.delete(PROJECT, QUEUE, sid)
    with pytest.raises(errors.SubscriptionDoesNotExist):
        driver.subscriptions.get(PROJECT, QUEUE, sid)
    with pytest.raises(errors.SubscriptionDoesNotExist):
        driver.subscriptions.update(PROJECT, QUEUE, sid, ttl=60)
    with pytest.raises(errors.SubscriptionDoesNotExist):
        driver.subscriptions.confirm(PROJECT, QUEUE, sid, False)


def test_update_to_a_taken_subscriber(driver: DataDriver) -> None:
    first, _ = _create(driver, 2)
    with pytest.raises(errors.SubscriptionAlreadyExists):
        driver.subscriptions.update(PROJECT, QUEUE, first, subscriber="http://h/1")


def test_ttl_counts_from_the_update(driver: DataDriver, clock: ManualClock) -> None:
    sid = driver.subscriptions.create(PROJECT, QUEUE, "http://h", 60, {})
    assert sid is not None
    clock.advance(50)
    driver.subscriptions.update(PROJECT, QUEUE, sid, ttl=60)
    clock.advance(20)
    assert driver.subscriptions.get(PROJECT, QUEUE, sid).ttl == 60
    clock.advance(41)
    with pytest.raises(errors.SubscriptionDoesNotExist):
        driver.subscriptions.get(PROJECT, QUEUE, sid)
    assert driver.subscriptions.list(PROJECT, QUEUE).items == []
