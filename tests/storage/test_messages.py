"""Message controller contract, on every backend."""

from __future__ import annotations

import pytest

from sqlqueue import errors
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import DataDriver
from tests.storage.helpers import CLIENT, PROJECT, QUEUE, post


def test_lifecycle_and_key_set(driver: DataDriver) -> None:
    [mid] = post(driver, 1)
    message = driver.messages.get(PROJECT, QUEUE, mid)
    assert set(message.to_storage_dict()) == {"id", "body", "ttl", "age", "claim_count", "claim_id"}
    assert message.body == {"n": 0} and message.ttl == 120 and message.claim_id is None
    driver.messages.delete(PROJECT, QUEUE, mid)
    with pytest.raises(errors.MessageDoesNotExist):
        driver.messages.get(PROJECT, QUEUE, mid)


def test_post_creates_queue_and_keeps_order(driver: DataDriver) -> None:
    bodies = [{"n": i} for i in range(7)] + ["text", 3, None, [1, 2]]
    ids = driver.messages.post(PROJECT, QUEUE, [NewMessage(b) for b in bodies], CLIENT)
    assert len(set(ids)) == len(bodies)
    assert driver.queues.exists(PROJECT, QUEUE)
    assert all(i.isdigit() for i in ids)
    listed = driver.messages.list(PROJECT, QUEUE, echo=True, limit=20).items
    assert [m.id for m in listed] == ids
    assert [m.body for m in listed] == bodies


def test_default_ttl_from_queue_then_driver(driver: DataDriver) -> None:
    [plain] = driver.messages.post(PROJECT, "plain", [NewMessage("x")], CLIENT)
    assert driver.messages.get(PROJECT, "plain", plain).ttl == 3600
    driver.queues.create(PROJECT, QUEUE, {"_default_message_ttl": 90})
    [mid] = driver.messages.post(PROJECT, QUEUE, [NewMessage("x")], CLIENT)
    assert driver.messages.get(PROJECT, QUEUE, mid).ttl == 90


def test_get_multi_echo_limit_marker(driver: DataDriver) -> None:
    post(driver, 15)
    assert driver.messages.list(PROJECT, QUEUE, client_id=CLIENT).items == []
    assert (
        len(driver.messages.list(PROJECT, QUEUE, client_id=CLIENT, echo=True, limit=20).items) == 15
    )
    page = driver.messages.list(PROJECT, QUEUE, client_id="someone-else")
    assert len(page.items) == 10
    rest = driver.messages.list(PROJECT, QUEUE, client_id="someone-else", marker=page.next_marker)
    assert [m.body["n"] for m in rest.items] == list(range(10, 15))
    assert driver.messages.list(PROJECT, QUEUE, echo=True, marker=rest.next_marker).items == []


def test_bad_marker_and_missing_queue(driver: DataDriver) -> None:
    post(driver, 2)
    for marker in ("xyz", "-1", "1.5", "9" * 40):
        assert driver.messages.list(PROJECT, QUEUE, echo=True, marker=marker).items == []
    assert driver.messages.list(PROJECT, "missing", echo=True).items == []
    assert driver.messages.bulk_get(PROJECT, "missing", ["1"]) == []
    assert driver.messages.delete(PROJECT, "missing", "1") is None
    assert driver.messages.bulk_delete(PROJECT, "missing", ["1"]) is None


def test_bulk_get_and_delete(driver: DataDriver) -> None:
    ids = post(driver, 5)
    found = driver.messages.bulk_get(PROJECT, QUEUE, [*ids[:3], "bogus", "0", "-4"])
    assert [m.body for m in found] == [{"n": 0}, {"n": 1}, {"n": 2}]
    driver.messages.bulk_delete(PROJECT, QUEUE, [*ids[:3], "bogus"])
    assert driver.messages.bulk_get(PROJECT, QUEUE, ids[:3]) == []
    assert len(driver.messages.bulk_get(PROJECT, QUEUE, ids)) == 2


def test_bad_ids(driver: DataDriver) -> None:
    post(driver, 1)
    driver.messages.delete(PROJECT, QUEUE, "not-an-id")
    with pytest.raises(errors.MessageDoesNotExist):
        driver.messages.get(PROJECT, QUEUE, "not-an-id")
    with pytest.raises(errors.ClaimDoesNotExist):
        driver.messages.delete(PROJECT, QUEUE, "1", claim_id="bogus")


def test_first_last_and_empty(driver: DataDriver) -> None:
    driver.queues.create(PROJECT, QUEUE)
    with pytest.raises(errors.QueueIsEmpty):
        driver.messages.first(PROJECT, QUEUE)
    ids = post(driver, 3)
    assert driver.messages.first(PROJECT, QUEUE).id == ids[0]
    assert driver.messages.first(PROJECT, QUEUE, sort=-1).id == ids[-1]
    with pytest.raises(ValueError):
        driver.messages.first(PROJECT, QUEUE, sort=0)


def test_pop_skips_claimed_and_returns_oldest(driver: DataDriver) -> None:
    ids = post(driver, 5)
    driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=2)
    popped = driver.messages.pop(PROJECT, QUEUE, 2)
    assert [m.id for m in popped] == ids[2:4]
    assert driver.messages.pop(PROJECT, "missing", 1) == []
    assert len(driver.messages.pop(PROJECT, QUEUE, 1)) == 1
    assert driver.messages.pop(PROJECT, QUEUE, 5) == []


def test_expired_messages_vanish_before_gc(driver: DataDriver, clock: ManualClock) -> None:
    [short] = post(driver, 1, ttl=60)
    [long] = post(driver, 1, ttl=600)
    clock.advance(61)
    assert [m.id for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == [long]
    with pytest.raises(errors.MessageDoesNotExist):
        driver.messages.get(PROJECT, QUEUE, short)
    assert driver.queues.stats(PROJECT, QUEUE).total == 1
    assert driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)[1][0].id == long
    assert driver.gc() >= 1
    assert driver.gc() == 0


def test_delayed_queue(driver: DataDriver, clock: ManualClock) -> None:
    driver.queues.create(PROJECT, QUEUE, {"_default_message_delay": 3})
    [mid] = post(driver, 1)
    assert driver.messages.list(PROJECT, QUEUE, echo=True).items == []
    assert [
        m.id for m in driver.messages.list(PROJECT, QUEUE, echo=True, include_delayed=True).items
    ] == [mid]
    assert driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60) == (None, [])
    clock.advance(3)
    assert driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)[1][0].id == mid


def test_per_message_delay_only_on_delayed_queues(driver: DataDriver, clock: ManualClock) -> None:
    post(driver, 1, queue="plain", delay=30)
    assert len(driver.messages.list(PROJECT, "plain", echo=True).items) == 1
    driver.queues.create(PROJECT, QUEUE, {"_default_message_delay": 5})
    [mid] = post(driver, 1, delay=1)
    clock.advance(1)
    assert [m.id for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == [mid]


def test_clearing_delay_frees_messages(driver: DataDriver) -> None:
    driver.queues.create(PROJECT, QUEUE, {"_default_message_delay": 100})
    post(driver, 2)
    driver.queues.set_metadata(PROJECT, QUEUE, {})
    claim_id, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert claim_id and len(claimed) == 2


def test_projects_are_isolated(driver: DataDriver) -> None:
    ids = post(driver, 2)
    assert driver.messages.list("intruder", QUEUE, echo=True).items == []
    assert driver.messages.bulk_get("intruder", QUEUE, ids) == []
    driver.messages.bulk_delete("intruder", QUEUE, ids)
    driver.queues.create("intruder", QUEUE)
    driver.messages.bulk_delete("intruder", QUEUE, ids)
    driver.messages.delete("intruder", QUEUE, ids[0])
    assert len(driver.messages.bulk_get(PROJECT, QUEUE, ids)) == 2


def test_bodies_round_trip_exactly(driver: DataDriver) -> None:
    bodies = [
        {"emoji": "😀🚀", "nul": "a\u0000b", "rtl": "שלום", "nested": [{"x": [1.5, None, True]}]},
        "x" * 200_000,
        {"big": 2**62, "neg": -(2**62), "float": 1e-300},
    ]
    ids = driver.messages.post(PROJECT, QUEUE, [NewMessage(b) for b in bodies], CLIENT)
    assert [m.body for m in driver.messages.bulk_get(PROJECT, QUEUE, ids)] == bodies


def test_post_size_is_checked_against_the_queue(driver: DataDriver) -> None:
    driver.queues.create(PROJECT, QUEUE, {"_max_messages_post_size": 100})
    with pytest.raises(errors.ValidationFailed):
        driver.messages.post(PROJECT, QUEUE, [NewMessage("x")], CLIENT, size=101)
    assert driver.messages.list(PROJECT, QUEUE, echo=True).items == []
    assert len(driver.messages.post(PROJECT, QUEUE, [NewMessage("x")], CLIENT, size=100)) == 1
    assert driver.messages.first(PROJECT, QUEUE).marker == 1, "the refused post left no gap"


def test_large_batch_keeps_input_order(driver: DataDriver) -> None:
    bodies = list(range(1201))  # more rows than one INSERT statement carries
    ids = driver.messages.post(PROJECT, QUEUE, [NewMessage(b) for b in bodies], CLIENT)
    assert len(set(ids)) == 1201
    found = {m.id: m for m in driver.messages.bulk_get(PROJECT, QUEUE, ids[:20] + ids[-20:])}
    assert [found[i].body for i in ids[:20] + ids[-20:]] == bodies[:20] + bodies[-20:]
    assert [found[i].marker for i in ids[:20]] == list(range(1, 21))
    assert driver.messages.first(PROJECT, QUEUE, sort=-1).id == ids[-1]
