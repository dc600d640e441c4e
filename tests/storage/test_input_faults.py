"""Storage halves of issue 8's input faults, on every backend.

Ages are whole seconds since creation and never negative, even when a
reader's clock reading precedes a row a concurrent writer stamped and
committed before the reader's statement ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from sqlqueue import errors
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.documents import DOCUMENT_BYTES, TEXT_BYTES
from sqlqueue.domain.models import Flavor, NewMessage, Pool
from sqlqueue.storage.sql.control import SqlControlDriver
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.flavors import SqlFlavorController
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


# 5. Stored documents longer than their column ---------------------------------


def test_a_message_body_longer_than_its_column_is_refused_whole(driver: SqlDataDriver) -> None:
    post(driver, 1)
    body = "é" * (DOCUMENT_BYTES // 2 + 1)  # 2 bytes each once stored
    batch = [NewMessage({"ok": 1}), NewMessage(body)]
    with pytest.raises(errors.ValidationFailed, match=f"Max size: {DOCUMENT_BYTES} bytes"):
        driver.messages.post(PROJECT, QUEUE, batch, CLIENT)
    assert len(driver.messages.list(PROJECT, QUEUE, echo=True).items) == 1
    assert driver.queues.stats(PROJECT, QUEUE).total == 1


def test_subscription_options_longer_than_their_column_are_refused(
    driver: SqlDataDriver,
) -> None:
    options = {"n": [1e9] * 6_000}
    with pytest.raises(errors.ValidationFailed, match=f"Max size: {TEXT_BYTES} bytes"):
        driver.subscriptions.create(PROJECT, QUEUE, "http://a.example", 60, options)
    assert driver.subscriptions.list(PROJECT, QUEUE).items == []
    sub_id = driver.subscriptions.create(PROJECT, QUEUE, "http://a.example", 60, {"k": 1})
    assert sub_id is not None
    with pytest.raises(errors.ValidationFailed, match=f"Max size: {TEXT_BYTES} bytes"):
        driver.subscriptions.update(PROJECT, QUEUE, sub_id, options=options)
    assert driver.subscriptions.get(PROJECT, QUEUE, sub_id).options == {"k": 1}


def test_queue_metadata_longer_than_its_column_is_refused(driver: SqlDataDriver) -> None:
    huge = {"s": "é" * (DOCUMENT_BYTES // 2)}
    with pytest.raises(errors.ValidationFailed, match="Queue metadata"):
        driver.queues.create(PROJECT, QUEUE, huge)
    assert not driver.queues.exists(PROJECT, QUEUE)
    driver.queues.create(PROJECT, QUEUE, {"k": 1})
    with pytest.raises(errors.ValidationFailed, match="Queue metadata"):
        driver.queues.set_metadata(PROJECT, QUEUE, huge)
    assert driver.queues.get_metadata(PROJECT, QUEUE) == {"k": 1}


def test_flavor_capabilities_longer_than_their_column_are_refused(engine: Engine) -> None:
    flavors = SqlFlavorController(Database(engine))
    capabilities: dict[str, Any] = {"n": [1e9] * 6_000}
    with pytest.raises(errors.ValidationFailed, match=f"Max size: {TEXT_BYTES} bytes"):
        flavors.create(Flavor("gold", PROJECT, capabilities))
    assert not flavors.exists(PROJECT, "gold")
    flavors.create(Flavor("gold", PROJECT, {"fifo": True}))
    with pytest.raises(errors.ValidationFailed, match=f"Max size: {TEXT_BYTES} bytes"):
        flavors.update(PROJECT, "gold", capabilities=capabilities)
    assert flavors.get(PROJECT, "gold").capabilities == {"fifo": True}


# 8. A claim answers 204 while claimable messages remain -------------------------

DLQ_META = {"_max_claim_count": 1, "_dead_letter_queue": "dead"}


def bodies(driver: SqlDataDriver, queue: str) -> list[Any]:
    page = driver.messages.list(PROJECT, queue, echo=True, include_claimed=True, limit=100)
    return [m.body for m in page.items]


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_dead_lettered_messages_do_not_use_up_a_claim(driver: SqlDataDriver, limit: int) -> None:
    driver.queues.create(PROJECT, QUEUE, DLQ_META)
    a, _b, _c = post(driver, 3)
    claim_id, held = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=1)
    assert claim_id is not None and [m.id for m in held] == [a]
    driver.claims.delete(PROJECT, QUEUE, claim_id)

    claim_id, held = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=limit)
    assert claim_id is not None
    assert [m.body for m in held] == [{"n": 1}, {"n": 2}][:limit]
    assert bodies(driver, "dead") == [{"n": 0}]


def test_a_run_of_spent_messages_is_passed_over(driver: SqlDataDriver) -> None:
    driver.queues.create(PROJECT, QUEUE, DLQ_META)
    post(driver, 30)
    claim_id, held = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=20)
    assert claim_id is not None and len(held) == 20
    driver.claims.delete(PROJECT, QUEUE, claim_id)
    claim_id, held = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=3)
    assert [m.body for m in held] == [{"n": 20}, {"n": 21}, {"n": 22}]
    assert bodies(driver, "dead") == [{"n": i} for i in range(20)]


def test_a_claim_is_empty_only_when_nothing_is_claimable(driver: SqlDataDriver) -> None:
    driver.queues.create(PROJECT, QUEUE, DLQ_META)
    post(driver, 2)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=2)
    assert claim_id is not None
    driver.claims.delete(PROJECT, QUEUE, claim_id)
    assert driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=1) == (None, [])
    assert bodies(driver, QUEUE) == []
    assert bodies(driver, "dead") == [{"n": 0}, {"n": 1}]


def test_a_queue_that_is_its_own_dead_letter_queue_keeps_its_messages(
    driver: SqlDataDriver,
) -> None:
    driver.queues.create(PROJECT, QUEUE, {"_max_claim_count": 1, "_dead_letter_queue": QUEUE})
    post(driver, 2)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=2)
    assert claim_id is not None
    driver.claims.delete(PROJECT, QUEUE, claim_id)
    claim_id, held = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=1)
    assert [m.body for m in held] == [{"n": 0}]


# 9. Every read-modify-write of stored state is atomic ---------------------------


def test_concurrent_metadata_updates_all_apply(live_driver: SqlDataDriver) -> None:
    driver = live_driver
    driver.queues.create(PROJECT, QUEUE, {"base": 0})

    def adder(n: int) -> Callable[[], None]:
        def run() -> None:
            driver.queues.update_metadata(PROJECT, QUEUE, lambda meta: {**meta, f"k{n}": n})

        return run

    run_threads([adder(n) for n in range(12)], timeout=120)
    expected = {"base": 0, **{f"k{n}": n for n in range(12)}}
    assert driver.queues.get_metadata(PROJECT, QUEUE) == expected


def test_update_metadata_answers_what_it_stored_and_refusals_write_nothing(
    driver: SqlDataDriver,
) -> None:
    driver.queues.create(PROJECT, QUEUE, {"a": 1})
    assert driver.queues.update_metadata(PROJECT, QUEUE, lambda m: {**m, "b": 2}) == {
        "a": 1,
        "b": 2,
    }

    def refuse(meta: dict[str, Any]) -> dict[str, Any]:
        raise errors.Conflict("no")

    with pytest.raises(errors.Conflict):
        driver.queues.update_metadata(PROJECT, QUEUE, refuse)
    assert driver.queues.get_metadata(PROJECT, QUEUE) == {"a": 1, "b": 2}
    with pytest.raises(errors.QueueDoesNotExist):
        driver.queues.update_metadata(PROJECT, "missing", lambda m: m)


def test_concurrent_subscribes_of_one_subscriber_make_one_subscription(
    live_driver: SqlDataDriver,
) -> None:
    driver = live_driver
    driver.queues.create(PROJECT, QUEUE)
    made: list[str | None] = []

    def subscribe() -> None:
        made.append(driver.subscriptions.create(PROJECT, QUEUE, "http://one.example", 600, {}))

    run_threads([subscribe] * 8, timeout=120)
    assert len([found for found in made if found is not None]) == 1
    assert len(driver.subscriptions.list(PROJECT, QUEUE, limit=20).items) == 1


def test_concurrent_renames_to_one_subscriber_leave_one_holder(
    live_driver: SqlDataDriver,
) -> None:
    driver = live_driver
    ids = [
        driver.subscriptions.create(PROJECT, QUEUE, f"http://s{n}.example", 600, {})
        for n in range(6)
    ]
    refused: list[str] = []

    def rename(sub_id: str | None) -> Callable[[], None]:
        def run() -> None:
            try:
                driver.subscriptions.update(PROJECT, QUEUE, sub_id or "", subscriber="http://x")
            except errors.SubscriptionAlreadyExists:
                refused.append(sub_id or "")

        return run

    run_threads([rename(sub_id) for sub_id in ids], timeout=120)
    holders = [
        s.id
        for s in driver.subscriptions.list(PROJECT, QUEUE, limit=20).items
        if s.subscriber == "http://x"
    ]
    assert len(holders) == 1 and len(refused) == 5


def test_concurrent_pool_updates_of_different_fields_all_apply(engine: Engine) -> None:
    control = SqlControlDriver(engine)
    control.pools.create(Pool("p1", "postgresql://u@db-p1/q", 1, None, {}))
    rounds = 15

    def weights() -> None:
        for n in range(1, rounds + 1):
            control.pools.update("p1", weight=n)

    def options() -> None:
        for n in range(1, rounds + 1):
            control.pools.update("p1", options={"fifo": n % 2 == 0})
            control.pools.update("p1", options={"fifo": True})

    run_threads([weights, options], timeout=120)
    pool = control.pools.get("p1")
    assert (pool.weight, pool.options) == (rounds, {"fifo": True})
