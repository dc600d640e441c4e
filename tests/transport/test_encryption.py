"""Encrypted queues and checksums as an HTTP client sees them.

A "restart" is a second app over the same database whose settings carry
other keys, as a server restarted with another configuration would be.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import create_app, storage_options
from sqlqueue.config import Settings
from sqlqueue.domain.bodies import checksum
from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.tables import messages
from tests.transport.conftest import ALL_BACKENDS, Api

K1 = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
K2 = f"k2:{base64.b64encode(os.urandom(32)).decode()}"
SECRET = {"password": "hunter2", "n": 1}
FLAG = {"_enable_encrypt_messages": True}
Q = "/v2/queues/vault"
PATCH = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}


def app(settings: Settings, engine: Engine, clock: ManualClock, **changes: object) -> Api:
    """An API over ``engine`` configured with ``settings`` and ``changes``."""
    configured = dataclasses.replace(settings, **changes)  # type: ignore[arg-type]
    options = storage_options(configured)
    driver = SqlDataDriver(engine, clock=clock, options=options)
    return Api(create_app(configured, driver=driver, clock=clock))


def test_the_flag_needs_a_key(api: Api) -> None:
    assert api.put(Q, json={}).status_code == 201
    turn_on = [{"op": "add", "path": "/metadata/_enable_encrypt_messages", "value": True}]
    for result in (
        api.put(Q, json=FLAG),
        api.patch(Q, body=json.dumps(turn_on), headers=PATCH),
    ):
        assert result.status_code == 400
        assert result.json["title"] == "Invalid request body"
        assert "needs an encryption key" in result.json["description"]
        assert "encryption_keys" in result.json["description"]
    assert api.get(Q).json["_enable_encrypt_messages"] is False


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_encrypted_queue_reads_plain_with_checksums(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    api = app(settings, engine, clock, encryption_keys=(K1,), enable_checksum=True)
    assert api.put(Q, json=FLAG).status_code == 201
    assert api.get(Q).json["_enable_encrypt_messages"] is True
    first, second = api.post_messages("vault", SECRET, "two")
    with engine.connect() as conn:
        stored = list(conn.execute(sa.select(messages.c.body)).scalars())
    assert all(s.startswith("!aes256gcm:k1:") and "hunter2" not in s for s in stored)
    sums = {first: checksum(SECRET), second: checksum("two")}
    listed = api.get(f"{Q}/messages", params={"echo": "true"}).json["messages"]
    assert [(m["body"], m["checksum"]) for m in listed] == [
        (SECRET, sums[first]),
        ("two", sums[second]),
    ]
    one = api.get(f"{Q}/messages/{first}").json
    assert (one["body"], one["checksum"]) == (SECRET, sums[first])
    by_ids = api.get(f"{Q}/messages", query_string=f"ids={first},{second}").json["messages"]
    assert sorted(m["checksum"] for m in by_ids) == sorted(sums.values())
    claimed = api.post(f"{Q}/claims", params={"limit": 1}, json={}).json["messages"]
    assert [(m["body"], m["checksum"]) for m in claimed] == [(SECRET, sums[first])]
    popped = api.delete(f"{Q}/messages", params={"pop": 1}).json["messages"]
    assert [(m["body"], m["checksum"]) for m in popped] == [("two", sums[second])]


def test_no_checksum_unless_configured(api: Api) -> None:
    [mid] = api.post_messages("plain", SECRET)
    assert "checksum" not in api.get(f"/v2/queues/plain/messages/{mid}").json


def test_restart_with_a_wrong_or_missing_key(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    api = app(settings, engine, clock, encryption_keys=(K1,))
    api.put(Q, json=FLAG)
    [mid] = api.post_messages("vault", SECRET)
    for other, why in (
        (app(settings, engine, clock), "encrypted with key 'k1', which is not configured"),
        (app(settings, engine, clock, encryption_keys=(K2,)), "key 'k1', which is not configured"),
        (
            app(settings, engine, clock, encryption_keys=("k1:" + K2.partition(":")[2],)),
            "does not decrypt with the configured key 'k1'",
        ),
    ):
        for result in (
            other.get(f"{Q}/messages", params={"echo": "true"}),
            other.get(f"{Q}/messages/{mid}"),
            other.post(f"{Q}/claims", json={}),
            other.delete(f"{Q}/messages", params={"pop": 1}),
        ):
            assert result.status_code == 503, result.text
            assert result.json["title"] == "Service temporarily unavailable"
            assert why in result.json["description"]
    refused = app(settings, engine, clock).post(
        f"{Q}/messages", json={"messages": [{"body": SECRET}]}
    )
    assert refused.status_code == 503
    assert "no encryption key is configured" in refused.json["description"]
    assert api.get(f"{Q}/messages/{mid}").json["body"] == SECRET
