"""The notification outbox contract (storage/sql/deliveries.py), on every backend."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import DeliveryResult, NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.tables import deliveries
from tests.storage.helpers import CLIENT, PROJECT, QUEUE, post

LEASE = 30.0


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one())


def _subscribe(driver: SqlDataDriver, url: str = "http://h/1", queue: str = QUEUE) -> str:
    sid = driver.subscriptions.create(PROJECT, queue, url, 600, {})
    assert sid is not None
    return sid


def test_no_subscription_no_rows(driver: SqlDataDriver, engine: Engine) -> None:
    post(driver, 3)
    assert _rows(engine) == 0
    assert driver.deliveries.take_due(10, LEASE) == []


def test_socket_subscribers_get_no_outbox_rows(driver: SqlDataDriver, engine: Engine) -> None:
    """The websocket server pushes to its sockets itself; the outbox is for the rest."""
    _subscribe(driver, "websocket://127.0.0.1:9000/3f2a")
    hook = _subscribe(driver)
    posted = post(driver, 2)
    taken = driver.deliveries.take_due(10, LEASE)
    assert sorted((d.subscription_id, d.message_id) for d in taken) == sorted(
        (hook, mid) for mid in posted
    )
    assert _rows(engine) == 2


def test_one_row_per_message_and_subscription(driver: SqlDataDriver) -> None:
    first, second = _subscribe(driver), _subscribe(driver, "mailto:a@example.com")
    posted = post(driver, 3)
    taken = driver.deliveries.take_due(10, LEASE)
    assert sorted((d.subscription_id, d.message_id) for d in taken) == sorted(
        (sid, mid) for sid in (first, second) for mid in posted
    )
    one = next(d for d in taken if d.message_id == posted[1] and d.subscription_id == first)
    assert (one.kind, one.body, one.ttl, one.attempts, one.queue) == (
        "notification",
        {"n": 1},
        120,
        1,
        QUEUE,
    )
    assert one.subscription is not None and one.subscription.subscriber == "http://h/1"


def test_payload_is_captured(driver: SqlDataDriver) -> None:
    """The message may be deleted before its notification goes out."""
    _subscribe(driver)
    [mid] = post(driver, 1)
    driver.messages.delete(PROJECT, QUEUE, mid)
    [taken] = driver.deliveries.take_due(10, LEASE)
    assert (taken.message_id, taken.body) == (mid, {"n": 0})


def test_lease_then_due_again(driver: SqlDataDriver, clock: ManualClock) -> None:
    _subscribe(driver)
    post(driver, 2)
    assert len(driver.deliveries.take_due(10, LEASE)) == 2
    assert driver.deliveries.take_due(10, LEASE) == []
    clock.advance(LEASE + 1)
    again = driver.deliveries.take_due(10, LEASE)
    assert [d.attempts for d in again] == [2, 2]


def test_outcomes_counts_and_gc(driver: SqlDataDriver, clock: ManualClock, engine: Engine) -> None:
    sid = _subscribe(driver)
    post(driver, 3)
    a, b, c = driver.deliveries.take_due(10, LEASE)
    driver.deliveries.record(
        [
            DeliveryResult(a.id, "delivered"),
            DeliveryResult(b.id, "retry", 5, "HTTP 503"),
            DeliveryResult(c.id, "failed", error="HTTP 404"),
        ]
    )
    stats = driver.subscriptions.delivery_stats(PROJECT, QUEUE, sid)
    assert (stats.delivered, stats.pending, stats.failed) == (1, 1, 1)
    assert stats.last_error in ("HTTP 503", "HTTP 404")
    assert driver.deliveries.take_due(10, LEASE) == []
    clock.advance(5)
    [retried] = driver.deliveries.take_due(10, LEASE)
    assert (retried.id, retried.attempts) == (b.id, 2)
    driver.deliveries.record([DeliveryResult(b.id, "delivered")])
    clock.advance(StorageOptions().keep_delivered + 1)
    driver.gc()
    assert _rows(engine) == 1  # the failed row is kept for inspection
    clock.advance(StorageOptions().keep_failed)
    driver.gc()
    assert _rows(engine) == 0


def test_per_subscription_cap_and_busy(driver: SqlDataDriver) -> None:
    slow, fast = _subscribe(driver), _subscribe(driver, "http://h/2")
    post(driver, 6)
    taken = driver.deliveries.take_due(10, LEASE, per_subscription=2, busy=[slow])
    assert [d.subscription_id for d in taken] == [fast, fast]
    more = driver.deliveries.take_due(10, LEASE, per_subscription=2)
    assert sorted(d.subscription_id for d in more) == sorted([slow, slow, fast, fast])


def test_deleted_and_expired_subscriptions(driver: SqlDataDriver, clock: ManualClock) -> None:
    gone, short = _subscribe(driver), _subscribe(driver, "http://h/2")
    driver.subscriptions.update(PROJECT, QUEUE, short, ttl=60)
    post(driver, 1)
    driver.subscriptions.delete(PROJECT, QUEUE, gone)
    clock.advance(61)
    taken = driver.deliveries.take_due(10, LEASE)
    assert [d.subscription for d in taken] == [None, None]
    post(driver, 1)  # no live subscription: no row
    driver.deliveries.record([DeliveryResult(d.id, "dropped") for d in taken])
    assert driver.deliveries.take_due(10, LEASE) == []


def test_subscription_outlives_its_queue(driver: SqlDataDriver) -> None:
    """Deleting a queue keeps its subscriptions; a re-created queue notifies them."""
    _subscribe(driver)
    post(driver, 1)
    driver.queues.delete(PROJECT, QUEUE)
    driver.queues.create(PROJECT, QUEUE)
    post(driver, 2)
    assert len(driver.deliveries.take_due(10, LEASE)) == 3


def test_subscribe_before_the_queue_exists(driver: SqlDataDriver) -> None:
    _subscribe(driver, queue="later")
    post(driver, 1, queue="later")
    assert len(driver.deliveries.take_due(10, LEASE)) == 1


def test_isolation(driver: SqlDataDriver) -> None:
    _subscribe(driver)
    driver.messages.post("other-project", QUEUE, [NewMessage({"x": 1})], CLIENT)
    post(driver, 1, queue="other-queue")
    assert driver.deliveries.take_due(10, LEASE) == []


def test_confirmation_gates_notifications(engine: Engine, clock: ManualClock) -> None:
    driver = SqlDataDriver(engine, clock=clock, options=StorageOptions(require_confirmation=True))
    sid = _subscribe(driver)
    post(driver, 2)
    [notice] = driver.deliveries.take_due(10, LEASE)
    assert (notice.kind, notice.subscription_id, notice.message_id) == ("confirm", sid, None)
    assert driver.subscriptions.create(PROJECT, QUEUE, "http://h/1", 600, {}) is None
    driver.subscriptions.request_confirmation(PROJECT, QUEUE, sid)
    assert [d.kind for d in driver.deliveries.take_due(10, LEASE)] == ["confirm"]
    driver.subscriptions.confirm(PROJECT, QUEUE, sid, True)
    post(driver, 1)
    assert [d.kind for d in driver.deliveries.take_due(10, LEASE)] == ["notification"]
    driver.subscriptions.confirm(PROJECT, QUEUE, sid, False)
    post(driver, 1)
    assert [d.kind for d in driver.deliveries.take_due(10, LEASE)] == ["unconfirm"]


def test_no_notice_without_required_confirmation(driver: SqlDataDriver) -> None:
    sid = _subscribe(driver)
    driver.subscriptions.request_confirmation(PROJECT, QUEUE, sid)
    driver.subscriptions.confirm(PROJECT, QUEUE, sid, False)
    assert driver.deliveries.take_due(10, LEASE) == []


def test_released_rows_are_due_again_uncounted(driver: SqlDataDriver) -> None:
    _subscribe(driver)
    post(driver, 2)
    taken = driver.deliveries.take_due(10, LEASE)
    driver.deliveries.record([DeliveryResult(d.id, "released") for d in taken])
    assert [d.attempts for d in driver.deliveries.take_due(10, LEASE)] == [1, 1]


def test_subscription_cap(driver: SqlDataDriver) -> None:
    _subscribe(driver), _subscribe(driver, "http://h/2")
    post(driver, 3)
    taken = driver.deliveries.take_due(10, LEASE, subscriptions=1)
    assert len(taken) == 3 and len({d.subscription_id for d in taken}) == 1
