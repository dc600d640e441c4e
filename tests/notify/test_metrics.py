"""Delivery metrics: every send counted by outcome, and the lag of delivered ones."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.notify.receivers import Answer, HttpReceiver, wait_until
from tests.notify.test_delivery import Start

PROJECT, QUEUE, CLIENT = "metrics-project", "mq", "8f1e2d3c4b5a69788796a5b4c3d2e1f0"


def sends(outcome: str) -> float:
    """``sqlqueue_notification_deliveries_total`` of one outcome in this process."""
    found = REGISTRY.get_sample_value(
        "sqlqueue_notification_deliveries_total", {"outcome": outcome}
    )
    return found or 0.0


def lags() -> float:
    """How many delivery lags this process observed."""
    return REGISTRY.get_sample_value("sqlqueue_notification_lag_seconds_count") or 0.0


def test_sends_are_counted_by_outcome_with_the_lag_of_deliveries(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    before = {o: sends(o) for o in ("delivered", "retry", "failed")}
    lagged = lags()
    flaky, broken = f"/hook/{uuid.uuid4().hex}", f"/hook/{uuid.uuid4().hex}"
    receiver.plan(flaky, Answer(503), Answer(200))
    receiver.plan(broken, Answer(404))
    for path in (flaky, broken):
        assert outbox.subscriptions.create(PROJECT, QUEUE, receiver.url(path), 600, {})
    outbox.messages.post(PROJECT, QUEUE, [NewMessage({"n": 1}, ttl=300)], CLIENT)
    start_worker(outbox)
    receiver.wait(flaky, 2)
    receiver.wait(broken, 1)

    def counted() -> bool:
        return (sends("delivered"), sends("failed")) == (
            before["delivered"] + 1,
            before["failed"] + 1,
        )

    wait_until(counted, 20, "one delivery and one failure counted")
    assert sends("retry") == before["retry"] + 1  # the 503, tried again
    assert lags() == lagged + 1
