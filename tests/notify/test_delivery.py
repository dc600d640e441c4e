"""Delivery contract on every backend: real webhooks and mail over loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from sqlqueue.domain.bodies import BodyCodec
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.crypto import Keyring
from sqlqueue.domain.models import NewMessage
from sqlqueue.notify.worker import Notifier
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.notify.receivers import Answer, HttpReceiver, SmtpReceiver, wait_until

PROJECT = "notify-project"
QUEUE = "nq"
CLIENT = "8f1e2d3c4b5a69788796a5b4c3d2e1f0"
Start = Callable[..., Notifier]
QUICK_POLICY = {
    "retries_with_no_delay": 2,
    "minimum_delay_retries": 0,
    "minimum_delay": 0,
    "maximum_delay": 10,
    "maximum_delay_retries": 0,
}
"""Attempts at t, t, t, t, t+5 s: five in all."""


def _path() -> str:
    return f"/hook/{uuid.uuid4().hex}"


def _subscribe(
    driver: SqlDataDriver, url: str, options: dict[str, Any] | None = None, **kw: Any
) -> str:
    sid = driver.subscriptions.create(
        kw.get("project", PROJECT), kw.get("queue", QUEUE), url, kw.get("ttl", 600), options or {}
    )
    assert sid is not None
    return sid


def _post(driver: SqlDataDriver, *bodies: Any, project: str = PROJECT, ttl: int = 300) -> list[str]:
    batch = [NewMessage(body, ttl=ttl) for body in bodies]
    return driver.messages.post(project, QUEUE, batch, CLIENT)


def _settled(driver: SqlDataDriver, sid: str, delivered: int = 0, failed: int = 0) -> None:
    def done() -> bool:
        stats = driver.subscriptions.delivery_stats(PROJECT, QUEUE, sid)
        return (stats.delivered, stats.failed, stats.pending) == (delivered, failed, 0)

    wait_until(done, 20, f"{delivered} delivered and {failed} failed")


def test_payload_and_headers(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    sid = _subscribe(outbox, receiver.url(path) + "?k=v")
    ids = _post(outbox, {"a": 1}, [1, "two"])
    start_worker(outbox)
    got = receiver.wait(path, 2)
    assert sorted((r.json() for r in got), key=str) == sorted(
        [
            {"ttl": 300, "body": {"a": 1}, "Message_Type": "Notification", "queue_name": QUEUE},
            {"ttl": 300, "body": [1, "two"], "Message_Type": "Notification", "queue_name": QUEUE},
        ],
        key=str,
    )
    assert list(got[0].json()) == ["ttl", "body", "Message_Type", "queue_name"]
    assert {r.headers["Content-Type"] for r in got} == {"application/json"}
    assert sorted(r.headers["webhook-id"] for r in got) == sorted(f"{sid}.{i}" for i in ids)
    assert all("webhook-signature" not in r.headers for r in got)
    _settled(outbox, sid, delivered=2)
    time.sleep(0.3)
    assert len(receiver.at(path)) == 2  # delivered once each


def test_post_data_and_post_headers(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    options = {
        "post_data": '{"wrapped": "$zaqar_message$", "k": 1, "raw": $zaqar_message$}',
        "post_headers": {"Content-Type": "application/x-custom", "X-Token": "t0k"},
    }
    _subscribe(outbox, receiver.url(path), options)
    _post(outbox, {"a": 1})
    start_worker(outbox)
    [got] = receiver.wait(path, 1)
    message = {"ttl": 300, "body": {"a": 1}, "Message_Type": "Notification", "queue_name": QUEUE}
    assert got.body.decode() == (
        '{"wrapped": ' + json.dumps(message) + ', "k": 1, "raw": $zaqar_message$}'
    )
    assert (got.headers["Content-Type"], got.headers["X-Token"]) == ("application/x-custom", "t0k")


def test_retry_then_success(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    receiver.plan(path, Answer(503), Answer(500), Answer(200))
    sid = _subscribe(outbox, receiver.url(path))
    [mid] = _post(outbox, {"n": 1})
    start_worker(outbox)
    got = receiver.wait(path, 3)
    assert {r.headers["webhook-id"] for r in got} == {f"{sid}.{mid}"}
    _settled(outbox, sid, delivered=1)
    assert outbox.subscriptions.delivery_stats(PROJECT, QUEUE, sid).last_error == "HTTP 500"


def test_too_many_requests_honours_retry_after(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    receiver.plan(path, Answer(429, headers=(("Retry-After", "2"),)), Answer(200))
    sid = _subscribe(outbox, receiver.url(path))
    _post(outbox, {"n": 1})
    start_worker(outbox)
    first, second = receiver.wait(path, 2)
    assert second.at - first.at >= 1.9  # the policy alone would retry at once
    _settled(outbox, sid, delivered=1)


def test_client_error_is_not_retried(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    receiver.plan(path, Answer(404))
    sid = _subscribe(outbox, receiver.url(path))
    _post(outbox, {"n": 1})
    start_worker(outbox)
    _settled(outbox, sid, failed=1)
    assert len(receiver.at(path)) == 1
    assert outbox.subscriptions.delivery_stats(PROJECT, QUEUE, sid).last_error == "HTTP 404"


def test_retries_exhausted_are_kept_failed(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    receiver.plan(path, Answer(500))
    sid = _subscribe(outbox, receiver.url(path), {"_retry_policy": QUICK_POLICY})
    _post(outbox, {"n": 1})
    start_worker(outbox)
    got = receiver.wait(path, 5)
    _settled(outbox, sid, failed=1)
    assert len(receiver.at(path)) == 5
    assert got[4].at - got[3].at >= 4.5


def test_queue_policy_applies_without_a_subscription_policy(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    receiver.plan(path, Answer(500))
    outbox.queues.create(
        PROJECT,
        QUEUE,
        {
            "_retry_policy": {
                **QUICK_POLICY,
                "maximum_delay_retries": 0,
                "retries_with_no_delay": 0,
                "minimum_delay": 20,
                "maximum_delay": 30,
            }
        },
    )
    sid = _subscribe(outbox, receiver.url(path))
    _post(outbox, {"n": 1})
    start_worker(outbox)
    receiver.wait(path, 1)
    time.sleep(1.0)
    assert len(receiver.at(path)) == 1  # next try in 20 s, not at once (the default)
    assert outbox.subscriptions.delivery_stats(PROJECT, QUEUE, sid).pending == 1


def test_timeout_then_success(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    receiver.plan(path, Answer(200, delay=3.0), Answer(200))
    sid = _subscribe(outbox, receiver.url(path))
    _post(outbox, {"n": 1})
    start_worker(outbox, notify_timeout=0.5)
    receiver.wait(path, 2)
    _settled(outbox, sid, delivered=1)
    assert "no answer within 0.5 s" in str(
        outbox.subscriptions.delivery_stats(PROJECT, QUEUE, sid).last_error
    )


def test_slow_subscriber_does_not_delay_others(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    slow, fast = _path(), _path()
    receiver.plan(slow, Answer(200, delay=2.0))
    _subscribe(outbox, receiver.url(slow))
    _subscribe(outbox, receiver.url(fast))
    _post(outbox, *range(20))
    begun = time.monotonic()
    start_worker(outbox, notify_threads=4, notify_per_subscription=2, notify_timeout=5.0)
    receiver.wait(fast, 20)
    assert time.monotonic() - begun < 2.0
    assert len(receiver.at(slow)) <= 2


def test_signature_header(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    sid = _subscribe(outbox, receiver.url(path), {"secret": "shh"})
    [mid] = _post(outbox, {"n": 1})
    start_worker(outbox)
    [got] = receiver.wait(path, 1)
    key, stamp = got.headers["webhook-id"], got.headers["webhook-timestamp"]
    assert key == f"{sid}.{mid}"
    assert abs(int(stamp) - time.time()) < 60
    mac = hmac.new(b"shh", f"{key}.{stamp}.".encode() + got.body, hashlib.sha256).digest()
    assert got.headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()


def test_trust_scheme_is_delivered_as_http(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    sid = _subscribe(outbox, "trust+" + receiver.url(path))
    _post(outbox, {"n": 1})
    start_worker(outbox)
    receiver.wait(path, 1)
    _settled(outbox, sid, delivered=1)


def test_denied_network_by_default(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    sid = _subscribe(outbox, receiver.url(path))
    _post(outbox, {"n": 1})
    start_worker(outbox, notify_allow_networks="")
    _settled(outbox, sid, failed=1)
    assert receiver.at(path) == []
    error = outbox.subscriptions.delivery_stats(PROJECT, QUEUE, sid).last_error
    assert error == "destination 127.0.0.1 (127.0.0.1) is in the denied network 127.0.0.0/8"


def test_checked_address_is_the_one_connected_to(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    """The host is resolved once and that address is used, with the URL's Host header.

    (A second lookup by the HTTP library could answer another address: DNS
    rebinding past the deny list.)
    """
    path = _path()
    url = receiver.url(path).replace("127.0.0.1", "localhost") + "?a=1&b=2"
    sid = _subscribe(outbox, url)
    _post(outbox, {"n": 1})
    start_worker(outbox, notify_deny_networks="10.0.0.0/8", notify_allow_networks="")
    got = receiver.wait(path, 1)
    assert (got[0].headers["Host"], got[0].query) == (url.split("/")[2], "a=1&b=2")
    _settled(outbox, sid, delivered=1)


def test_deleted_subscription_gets_nothing_more(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    path = _path()
    sid = _subscribe(outbox, receiver.url(path))
    _post(outbox, {"n": 1})
    outbox.subscriptions.delete(PROJECT, QUEUE, sid)
    _post(outbox, {"n": 2})
    start_worker(outbox)
    time.sleep(0.5)
    assert receiver.at(path) == []
    assert outbox.deliveries.take_due(10, 1) == []


def test_expired_subscription_gets_nothing(
    engine: Engine, receiver: HttpReceiver, start_worker: Start
) -> None:
    clock = ManualClock()
    driver = SqlDataDriver(engine, clock=clock)
    path = _path()
    _subscribe(driver, receiver.url(path), ttl=60)
    _post(driver, {"n": 1})  # pending when the subscription expires
    clock.advance(61)
    _post(driver, {"n": 2})
    start_worker(driver)
    wait_until(lambda: driver.deliveries.take_due(10, 1) == [], 10, "the row dropped")
    assert receiver.at(path) == []


def test_project_and_queue_isolation(
    outbox: SqlDataDriver, receiver: HttpReceiver, start_worker: Start
) -> None:
    mine, theirs, other_queue = _path(), _path(), _path()
    _subscribe(outbox, receiver.url(mine))
    _subscribe(outbox, receiver.url(theirs), project="someone-else")
    _subscribe(outbox, receiver.url(other_queue), queue="elsewhere")
    _post(outbox, {"mine": 1})
    _post(outbox, {"theirs": 1}, project="someone-else")
    start_worker(outbox)
    assert [r.json()["body"] for r in receiver.wait(mine, 1)] == [{"mine": 1}]
    assert [r.json()["body"] for r in receiver.wait(theirs, 1)] == [{"theirs": 1}]
    time.sleep(0.3)
    assert len(receiver.at(mine)) == 1 and receiver.at(other_queue) == []


def test_mail(outbox: SqlDataDriver, smtp: SmtpReceiver, start_worker: Start) -> None:
    before = len(smtp.mails)
    address = f"{uuid.uuid4().hex}@example.com"
    sid = _subscribe(outbox, f"mailto:{address}", {"subject": "Hello", "from": "me@example.com"})
    _post(outbox, {"n": 1})
    start_worker(outbox)
    rcpt, mail = smtp.wait(before + 1)[before]
    assert rcpt == [address]
    assert (mail["To"], mail["From"], mail["Subject"]) == (address, "me@example.com", "Hello")
    assert mail.get_content_type() == "text/plain"
    assert json.loads(mail.get_payload()) == {
        "ttl": 300,
        "body": {"n": 1},
        "Message_Type": "Notification",
        "queue_name": QUEUE,
    }
    _settled(outbox, sid, delivered=1)


def test_mail_without_smtp_server_fails_saying_so(
    outbox: SqlDataDriver, start_worker: Start
) -> None:
    sid = _subscribe(outbox, "mailto:a@example.com")
    _post(outbox, {"n": 1})
    start_worker(outbox, smtp_host="")
    _settled(outbox, sid, failed=1)
    error = outbox.subscriptions.delivery_stats(PROJECT, QUEUE, sid).last_error
    assert error == "no SMTP server is configured (smtp_host)"


def test_encrypted_queue_notifies_the_plain_body(
    engine: Engine, receiver: HttpReceiver, start_worker: Start
) -> None:
    """The outbox holds the sealed body (tests/storage/test_encryption.py); the
    worker opens it with the configured key."""
    key = f"k1:{base64.b64encode(bytes(range(32))).decode()}"
    bodies = BodyCodec(Keyring.parse([key]))
    driver = SqlDataDriver(engine, options=StorageOptions(bodies=bodies))
    driver.queues.create(PROJECT, QUEUE, {"_enable_encrypt_messages": True})
    path = _path()
    sid = _subscribe(driver, receiver.url(path))
    _post(driver, {"secret": "plain to the subscriber"})
    start_worker(driver)
    [got] = receiver.wait(path, 1)
    assert got.json()["body"] == {"secret": "plain to the subscriber"}
    _settled(driver, sid, delivered=1)
