"""Confirmation end to end on every backend: the notice's pre-signed URL confirms via the API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import falcon.testing
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import create_app
from sqlqueue.notify.worker import Notifier
from tests.notify.conftest import confirming_driver, settings
from tests.notify.receivers import HttpReceiver, SmtpReceiver, wait_until

PROJECT = "confirm-project"
QUEUE = "cq"
HEADERS = {"Client-ID": str(uuid.uuid4()), "X-Project-Id": PROJECT}
Start = Callable[..., Notifier]


def _api(engine: Engine) -> tuple[falcon.testing.TestClient, Any]:
    driver = confirming_driver(engine)
    app = create_app(settings(notify_require_confirmation=True), driver=driver)
    return falcon.testing.TestClient(app, headers=HEADERS), driver


def _post_message(api: falcon.testing.TestClient, n: int) -> None:
    result = api.simulate_post(f"/v2/queues/{QUEUE}/messages", json={"messages": [{"body": n}]})
    assert result.status_code == 201, result.text


def _signed(notice: dict[str, Any]) -> dict[str, str]:
    keys = ("URL-Signature", "URL-Methods", "URL-Paths", "URL-Expires")
    return {**HEADERS, **{key: notice[key] for key in keys}, "X-Project-Id": notice["X-Project-ID"]}


def test_webhook_confirmation_flow(
    engine: Engine, receiver: HttpReceiver, start_worker: Start
) -> None:
    api, driver = _api(engine)
    path = f"/confirm/{uuid.uuid4().hex}"
    start_worker(driver, notify_require_confirmation=True)
    created = api.simulate_post(
        f"/v2/queues/{QUEUE}/subscriptions", json={"subscriber": receiver.url(path), "ttl": 3600}
    )
    assert created.status_code == 201
    sid = created.json["subscription_id"]
    [first] = receiver.wait(path, 1)
    notice = first.json()
    confirm = f"/v2/queues/{QUEUE}/subscriptions/{sid}/confirm"
    assert list(notice) == [
        "Message_Type",
        "Message",
        "URL-Signature",
        "URL-Methods",
        "URL-Paths",
        "X-Project-ID",
        "URL-Expires",
        "SubscribeBody",
        "UnsubscribeBody",
        "queue_name",
    ]
    assert notice["Message_Type"] == "SubscriptionConfirmation"
    assert notice["Message"] == f"You have chosen to subscribe to the queue: {QUEUE}"
    assert (notice["URL-Methods"], notice["URL-Paths"]) == ("PUT", confirm)
    assert (notice["X-Project-ID"], notice["queue_name"]) == (PROJECT, QUEUE)
    assert (notice["SubscribeBody"], notice["UnsubscribeBody"]) == (
        {"confirmed": True},
        {"confirmed": False},
    )
    expires = datetime.strptime(notice["URL-Expires"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    assert abs(expires.timestamp() - (time.time() + 3600)) < 60

    _post_message(api, 1)  # unconfirmed: not delivered, not replayed later
    again = api.simulate_post(
        f"/v2/queues/{QUEUE}/subscriptions", json={"subscriber": receiver.url(path)}
    )
    assert (again.status_code, again.json) == (201, {"subscription_id": sid})
    receiver.wait(path, 2)  # the confirmation is sent again

    forged = {**_signed(notice), "URL-Signature": "0" * 64}
    assert api.simulate_put(confirm, headers=forged, json={"confirmed": True}).status_code == 404
    done = api.simulate_put(confirm, headers=_signed(notice), json=notice["SubscribeBody"])
    assert done.status_code == 204
    _post_message(api, 2)
    got = receiver.wait(path, 3)
    assert got[2].json()["body"] == 2

    done = api.simulate_put(confirm, headers=_signed(notice), json=notice["UnsubscribeBody"])
    assert done.status_code == 204
    bye = receiver.wait(path, 4)[3].json()
    assert bye["Message_Type"] == "UnsubscribeConfirmation"
    assert bye["Message"] == (
        f"You have unsubscribed successfully to the queue: {QUEUE}, "
        "you can resubscribe it by using confirmed=True."
    )
    _post_message(api, 3)
    time.sleep(0.5)
    assert len(receiver.at(path)) == 4
    state = api.simulate_get(f"/v2/queues/{QUEUE}/subscriptions/{sid}").json["delivery"]
    assert state == {"delivered": 4, "pending": 0, "failed": 0, "last_error": None}


def test_mail_confirmation_link(engine: Engine, smtp: SmtpReceiver, start_worker: Start) -> None:
    api, driver = _api(engine)
    before = len(smtp.mails)
    start_worker(
        driver,
        notify_require_confirmation=True,
        notify_confirmation_url="https://example.com/confirm",
    )
    address = f"{uuid.uuid4().hex}@example.com"
    created = api.simulate_post(
        f"/v2/queues/{QUEUE}/subscriptions", json={"subscriber": f"mailto:{address}"}
    )
    sid = created.json["subscription_id"]
    _, mail = smtp.wait(before + 1)[before]
    assert mail["Subject"] == "Zaqar Notification - Subscription Confirmation"
    body = mail.get_payload()
    assert body.startswith(f"You have chosen to subscribe to the queue: {QUEUE}. ")
    link = body.split()[-1]
    assert link.startswith("https://example.com/confirm?Signature=")
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query, keep_blank_values=True).items()}
    headers = {
        **HEADERS,
        "URL-Signature": query["Signature"],
        "URL-Methods": query["Methods"],
        "URL-Paths": query["Paths"],
        "URL-Expires": query["Expires"],
        "X-Project-Id": query["Project"],
    }
    done = api.simulate_put(query["Paths"], headers=headers, json={"confirmed": True})
    assert done.status_code == 204
    wait_until(
        lambda: driver.subscriptions.get(PROJECT, QUEUE, sid).confirmed, 5, "the confirmation"
    )
