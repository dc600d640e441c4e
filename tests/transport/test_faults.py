"""Failures: storage down is 503, bugs are 500, and no client input is a 500."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import pytest

from sqlqueue.bootstrap import create_app
from sqlqueue.config import Settings
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.transport.conftest import SECRET, Api

Q = "/v2/queues/jobs"
SUB = "a" * 32
EVERY_ROUTE: list[tuple[str, str, Any]] = [
    ("GET", "/v2/queues", None),
    ("PUT", Q, {"a": 1}),
    ("GET", Q, None),
    ("PATCH", Q, [{"op": "add", "path": "/metadata/a", "value": 1}]),
    ("DELETE", Q, None),
    ("GET", f"{Q}/stats", None),
    ("POST", f"{Q}/purge", None),
    ("POST", f"{Q}/messages", {"messages": [{"body": 1}]}),
    ("GET", f"{Q}/messages", None),
    ("GET", f"{Q}/messages?ids=1,2", None),
    ("DELETE", f"{Q}/messages?ids=1", None),
    ("DELETE", f"{Q}/messages?pop=1", None),
    ("GET", f"{Q}/messages/1", None),
    ("DELETE", f"{Q}/messages/1", None),
    ("DELETE", f"{Q}/messages/1?claim_id={SUB}", None),
    ("POST", f"{Q}/claims", None),
    ("GET", f"{Q}/claims/{SUB}", None),
    ("PATCH", f"{Q}/claims/{SUB}", {"ttl": 60}),
    ("DELETE", f"{Q}/claims/{SUB}", None),
    ("GET", f"{Q}/subscriptions", None),
    ("POST", f"{Q}/subscriptions", {"subscriber": "http://example.com"}),
    ("GET", f"{Q}/subscriptions/{SUB}", None),
    ("PATCH", f"{Q}/subscriptions/{SUB}", {"ttl": 100}),
    ("DELETE", f"{Q}/subscriptions/{SUB}", None),
    ("PUT", f"{Q}/subscriptions/{SUB}/confirm", {"confirmed": True}),
    ("GET", "/v2/ping", None),
]


def send(api: Api, method: str, target: str, body: Any) -> Any:
    path, _, query = target.partition("?")
    headers = {}
    if method == "PATCH" and path == Q:
        headers["Content-Type"] = "application/openstack-messaging-v2.0-json-patch"
    raw = None if body is None else json.dumps(body)
    return api.request(method, path, query_string=query, body=raw, headers=headers)


@pytest.fixture
def down() -> Api:
    """The API over a database nobody listens to."""
    driver = SqlDataDriver.from_url("postgresql://postgres@127.0.0.1:1/nothing")
    return Api(create_app(Settings(signed_url_secret=SECRET), driver=driver))


@pytest.mark.parametrize(("method", "target", "body"), EVERY_ROUTE)
def test_storage_down_is_503(down: Api, method: str, target: str, body: Any) -> None:
    result = send(down, method, target, body)
    assert result.status_code == 503
    assert result.json["title"] == "Service temporarily unavailable"
    assert "try again" in result.json["description"]


def test_discovery_works_while_storage_is_down(down: Api) -> None:
    assert down.client.simulate_get("/").status_code == 300
    assert down.get("/v2/").status_code == 200


class Broken:
    """Any call on any controller raises a programming error."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")


def test_bugs_are_logged_500s(caplog: pytest.LogCaptureFixture) -> None:
    api = Api(create_app(Settings(signed_url_secret=SECRET), driver=Broken()))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        result = api.get("/v2/queues")
    assert result.status_code == 500
    assert result.json == {
        "title": "Internal server error",
        "description": "An unexpected error occurred; it has been logged.",
    }
    assert "RuntimeError: bug" in caplog.text


GARBAGE_BODIES: list[bytes] = [
    b"",
    b"\x00\xff\xfe",
    b"null",
    b"[]",
    b"{}",
    b'{"messages": [{"body": {"a": [1, 2, {"b": null}]}, "ttl": 9223372036854775807}]}',
    b'{"ttl": -9223372036854775808, "grace": 1e308}',
    b'{"subscriber": "http://[::1", "options": {}}',
    b'{"subscriber": "mailto:@", "ttl": 0.5}',
    b'{"resource_types": [null]}',
    b'{"expires": "9999-12-31T23:59:59", "paths": ["messages"]}',
    b'{"expires": "0001-01-01"}',
    b'[{"op": "add", "path": "/metadata/_dead_letter_queue", "value": "x"}]',
    b'[{"op": "remove", "path": "/metadata/~"}]',
    b'{"confirmed": null}',
    b'"\\udfff"',
    b"{" * 70 + b"}" * 70,
]
GARBAGE_QUERIES = [
    "",
    "limit=999999999999999999999999",
    "marker=%FF%FE&limit=1",
    "ids=,,,&pop=",
    "pop=1&ids=",
    "echo=maybe",
    "claim_id=%E2%82%AC",
    "marker=" + "9" * 40,
    "detailed=1&with_count=yes&name=%25_&x=1&x=2",
    "include_claimed=on&include_delayed=off&limit=20",
]
GARBAGE_PATHS = [
    Q,
    f"{Q}/messages",
    f"{Q}/messages/1",
    f"{Q}/messages/" + "9" * 30,
    f"{Q}/claims",
    f"{Q}/claims/%FF",
    f"{Q}/subscriptions",
    f"{Q}/subscriptions/x/confirm",
    f"{Q}/share",
    f"{Q}/purge",
    "/v2/queues",
]


def test_garbage_never_500(api: Api) -> None:
    rng = random.Random(1234)
    api.post_messages("jobs", 1, 2, 3)
    content_types = [
        None,
        "application/json",
        "text/plain",
        "application/openstack-messaging-v2.0-json-patch",
    ]
    for _ in range(400):
        method = rng.choice(["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"])
        ctype = rng.choice(content_types)
        headers = {"Content-Type": ctype} if ctype else {}
        result = api.request(
            method,
            rng.choice(GARBAGE_PATHS),
            query_string=rng.choice(GARBAGE_QUERIES),
            body=rng.choice(GARBAGE_BODIES),
            headers=headers,
        )
        assert result.status_code < 500, (method, result.status_code, result.text)
