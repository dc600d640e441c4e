"""Topic fan-out on every backend: a message posted to a topic reaches every subscriber.

The API (in process) posts and subscribes; a real worker delivers from the
outbox to a real HTTP receiver and a real SMTP server on loopback.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import falcon.testing
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import create_app
from sqlqueue.notify.worker import Notifier
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.notify.conftest import confirming_driver, settings
from tests.notify.receivers import Answer, HttpReceiver, SmtpReceiver, wait_until

PROJECT = "topic-project"
NAME = "alerts"
T = f"/v2/topics/{NAME}"
HEADERS = {"Client-ID": str(uuid.uuid4()), "X-Project-Id": PROJECT}
Start = Callable[..., Notifier]


def _client(driver: SqlDataDriver, **overrides: Any) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(settings(**overrides), driver=driver), HEADERS)


def _subscribe(api: falcon.testing.TestClient, path: str, subscriber: str) -> str:
    created = api.simulate_post(f"{path}/subscriptions", json={"subscriber": subscriber})
    assert created.status_code == 201, created.text
    return str(created.json["subscription_id"])


def _post(api: falcon.testing.TestClient, path: str, *bodies: Any) -> list[str]:
    result = api.simulate_post(f"{path}/messages", json={"messages": [{"body": b} for b in bodies]})
    assert result.status_code == 201, result.text
    return [href.rsplit("/", 1)[1] for href in result.json["resources"]]


def test_a_topic_message_reaches_every_subscriber(
    outbox: SqlDataDriver, receiver: HttpReceiver, smtp: SmtpReceiver, start_worker: Start
) -> None:
    api = _client(outbox)
    hooks = [f"/topic/{uuid.uuid4().hex}" for _ in range(3)]
    receiver.plan(hooks[0], Answer(503), Answer(200))  # retried, then delivered
    sids = [_subscribe(api, T, receiver.url(path)) for path in hooks]
    address = f"{uuid.uuid4().hex}@example.com"
    mail_sid = _subscribe(api, T, f"mailto:{address}")
    queue_hook = f"/queue/{uuid.uuid4().hex}"
    _subscribe(api, f"/v2/queues/{NAME}", receiver.url(queue_hook))
    ids = _post(api, T, {"n": 1}, {"n": 2})
    start_worker(outbox)

    expected = [
        {"ttl": 3600, "body": {"n": n}, "Message_Type": "Notification", "queue_name": NAME}
        for n in (1, 2)
    ]
    for sid, path in zip(sids, hooks, strict=True):
        got = receiver.wait(path, 2 + (path == hooks[0]))  # the 503 is sent again
        by_id = {r.headers["webhook-id"]: r.json() for r in got}
        assert set(by_id) == {f"{sid}.{mid}" for mid in ids}
        assert sorted(by_id.values(), key=str) == sorted(expected, key=str)
    wait_until(
        lambda: len([1 for to, _ in smtp.mails if to == [address]]) == 2, 20, "two topic mails"
    )
    mails = [m for to, m in smtp.mails if to == [address]]
    assert sorted((json.loads(m.get_payload()) for m in mails), key=str) == sorted(
        expected, key=str
    )

    def settled() -> bool:
        states = [
            api.simulate_get(f"{T}/subscriptions/{sid}").json["delivery"]
            for sid in [*sids, mail_sid]
        ]
        return all((s["delivered"], s["pending"], s["failed"]) == (2, 0, 0) for s in states)

    wait_until(settled, 20, "every topic subscription delivered")
    time.sleep(0.3)
    assert receiver.at(queue_hook) == []  # queue "alerts" is another resource


def test_topic_subscription_confirmation(
    engine: Engine, receiver: HttpReceiver, start_worker: Start
) -> None:
    driver = confirming_driver(engine)
    api = _client(driver, notify_require_confirmation=True)
    start_worker(driver, notify_require_confirmation=True)
    path = f"/confirm/{uuid.uuid4().hex}"
    sid = _subscribe(api, T, receiver.url(path))
    [first] = receiver.wait(path, 1)
    notice = first.json()
    confirm = f"{T}/subscriptions/{sid}/confirm"
    assert (notice["URL-Paths"], notice["queue_name"]) == (confirm, NAME)
    assert notice["Message"] == f"You have chosen to subscribe to the topic: {NAME}"
    _post(api, T, "before")  # unconfirmed: not delivered
    signed = {key: notice[key] for key in ("URL-Signature", "URL-Methods", "URL-Paths")}
    headers = {**HEADERS, **signed, "URL-Expires": notice["URL-Expires"]}
    done = api.simulate_put(confirm, headers=headers, json=notice["SubscribeBody"])
    assert done.status_code == 204, done.text
    _post(api, T, "after")
    got = receiver.wait(path, 2)
    assert got[1].json()["body"] == "after"
    time.sleep(0.3)
    assert len(receiver.at(path)) == 2
