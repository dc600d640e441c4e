"""Subscriptions: create, duplicate, read, list, update, confirm, delete."""

from __future__ import annotations

import pytest

from sqlqueue.domain.clock import ManualClock
from tests.transport.conftest import Api

HOOK = "http://example.com/hook"


def subscribe(api: Api, queue: str = "jobs", **fields: object) -> str:
    result = api.post(f"/v2/queues/{queue}/subscriptions", json={"subscriber": HOOK, **fields})
    assert result.status_code == 201, result.text
    return str(result.json["subscription_id"])


def test_create_and_get(api: Api) -> None:
    result = api.post(
        "/v2/queues/jobs/subscriptions",
        json={"subscriber": HOOK, "ttl": 600, "options": {"a": 1}},
    )
    assert result.status_code == 201
    assert result.headers["location"] == "/v2/queues/jobs/subscriptions"
    sub_id = result.json["subscription_id"]
    assert set(result.json) == {"subscription_id"}
    doc = api.get(f"/v2/queues/jobs/subscriptions/{sub_id}").json
    assert doc == {
        "id": sub_id,
        "source": "jobs",
        "subscriber": HOOK,
        "ttl": 600,
        "age": 0,
        "options": {"a": 1},
        "confirmed": False,
        "delivery": {"delivered": 0, "pending": 0, "failed": 0, "last_error": None},
    }
    assert [q["name"] for q in api.get("/v2/queues").json["queues"]] == ["jobs"]


def test_defaults(api: Api) -> None:
    sub_id = subscribe(api)
    doc = api.get(f"/v2/queues/jobs/subscriptions/{sub_id}").json
    assert (doc["ttl"], doc["options"]) == (3600, {})


def test_duplicate_returns_existing_until_confirmed(api: Api) -> None:
    sub_id = subscribe(api)
    assert subscribe(api) == sub_id
    path = f"/v2/queues/jobs/subscriptions/{sub_id}/confirm"
    assert api.put(path, json={"confirmed": True}).status_code == 204
    assert api.get(f"/v2/queues/jobs/subscriptions/{sub_id}").json["confirmed"] is True
    duplicate = api.post("/v2/queues/jobs/subscriptions", json={"subscriber": HOOK})
    assert duplicate.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ttl": 100},
        {"subscriber": ""},
        {"subscriber": "ftp://example.com"},
        {"subscriber": "example.com"},
        {"subscriber": "http://"},
        {"subscriber": "mailto:nobody"},
        {"subscriber": "http://exa mple.com"},
        {"subscriber": "http://example.com/\u0000"},
        {"subscriber": 5},
        {"subscriber": "http://x.com/" + "a" * 1024},
        {"subscriber": HOOK, "ttl": 59},
        {"subscriber": HOOK, "ttl": "60"},
        {"subscriber": HOOK, "ttl": 2**31},
        {"subscriber": HOOK, "options": []},
        {"subscriber": HOOK, "options": "x"},
        [],
    ],
)
def test_create_invalid(api: Api, body: object) -> None:
    assert api.post("/v2/queues/jobs/subscriptions", json=body).status_code == 400


@pytest.mark.parametrize(
    "subscriber",
    ["https://example.com:8443/x?y=1", "mailto:ops@example.com", "trust+http://example.com"],
)
def test_subscriber_types(api: Api, subscriber: str) -> None:
    body = {"subscriber": subscriber}
    assert api.post("/v2/queues/jobs/subscriptions", json=body).status_code == 201


def test_list_pages(api: Api) -> None:
    ids = {subscribe(api, subscriber=f"http://example.com/{n}") for n in range(3)}
    first = api.get("/v2/queues/jobs/subscriptions", params={"limit": 2, "detailed": "true"})
    assert first.status_code == 200
    page = first.json
    assert len(page["subscriptions"]) == 2
    assert set(page["subscriptions"][0]) == {
        "id",
        "source",
        "subscriber",
        "ttl",
        "age",
        "options",
        "confirmed",
    }
    path, query = page["links"][0]["href"].split("?")
    assert path == "/v2/queues/jobs/subscriptions"
    rest = api.get(path, query_string=query).json
    found = {s["id"] for s in page["subscriptions"] + rest["subscriptions"]}
    assert found == ids
    assert api.get("/v2/queues/none/subscriptions").json == {"subscriptions": [], "links": []}


@pytest.mark.parametrize("limit", ["0", "21"])
def test_list_limit(api: Api, limit: str) -> None:
    query = f"limit={limit}"
    assert api.get("/v2/queues/jobs/subscriptions", query_string=query).status_code == 400


def test_update(api: Api) -> None:
    sub_id = subscribe(api)
    path = f"/v2/queues/jobs/subscriptions/{sub_id}"
    body = {"subscriber": "http://example.org/new", "ttl": 120, "options": {"b": 2}}
    assert api.patch(path, json=body).status_code == 204
    doc = api.get(path).json
    assert (doc["subscriber"], doc["ttl"], doc["options"]) == (
        "http://example.org/new",
        120,
        {"b": 2},
    )


def test_update_to_taken_subscriber_is_409(api: Api) -> None:
    subscribe(api)
    other = subscribe(api, subscriber="http://example.com/other")
    path = f"/v2/queues/jobs/subscriptions/{other}"
    assert api.patch(path, json={"subscriber": HOOK}).status_code == 409


@pytest.mark.parametrize("body", [{}, {"ttl": 1}, {"subscriber": "gopher://x"}, []])
def test_update_invalid(api: Api, body: object) -> None:
    sub_id = subscribe(api)
    path = f"/v2/queues/jobs/subscriptions/{sub_id}"
    assert api.patch(path, json=body).status_code == 400


def test_unknown_subscription(api: Api) -> None:
    path = "/v2/queues/jobs/subscriptions/" + "a" * 32
    assert api.get(path).status_code == 404
    assert api.patch(path, json={"ttl": 100}).status_code == 404
    assert api.put(f"{path}/confirm", json={"confirmed": True}).status_code == 404
    assert api.delete(path).status_code == 204


@pytest.mark.parametrize("body", [{}, {"confirmed": "yes"}, {"confirmed": 1}, []])
def test_confirm_invalid(api: Api, body: object) -> None:
    sub_id = subscribe(api)
    path = f"/v2/queues/jobs/subscriptions/{sub_id}/confirm"
    assert api.put(path, json=body).status_code == 400


def test_delete(api: Api) -> None:
    sub_id = subscribe(api)
    path = f"/v2/queues/jobs/subscriptions/{sub_id}"
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_subscription_expires(api: Api, clock: ManualClock) -> None:
    sub_id = subscribe(api, ttl=60)
    clock.advance(61)
    assert api.get(f"/v2/queues/jobs/subscriptions/{sub_id}").status_code == 404
