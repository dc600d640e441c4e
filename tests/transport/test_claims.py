"""Claims: create, read, renew, release."""

from __future__ import annotations

import pytest

from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.limits import Limits
from tests.transport.conftest import Api


def claim(api: Api, queue: str, limit: int = 10) -> tuple[str, list[dict[str, object]]]:
    result = api.post(f"/v2/queues/{queue}/claims", params={"limit": limit}, json={})
    assert result.status_code == 201, result.text
    return result.headers["location"].rsplit("/", 1)[1], result.json["messages"]


def test_claim_returns_messages_with_claim_hrefs(api: Api) -> None:
    ids = api.post_messages("jobs", *range(12))
    result = api.post("/v2/queues/jobs/claims", json={"ttl": 120, "grace": 60})
    assert result.status_code == 201
    claim_id = result.headers["location"].rsplit("/", 1)[1]
    assert result.headers["location"] == f"/v2/queues/jobs/claims/{claim_id}"
    messages = result.json["messages"]
    assert [m["id"] for m in messages] == ids[:10]
    assert messages[0]["href"] == f"/v2/queues/jobs/messages/{ids[0]}?claim_id={claim_id}"
    assert messages[0]["href"].split("=")[-1] == claim_id
    assert set(messages[0]) == {"id", "href", "ttl", "age", "body"}


def test_claim_limit(api: Api) -> None:
    api.post_messages("jobs", *range(5))
    result = api.post("/v2/queues/jobs/claims", params={"limit": 3}, json={})
    assert len(result.json["messages"]) == 3
    rest = api.post("/v2/queues/jobs/claims", params={"limit": 20})
    assert len(rest.json["messages"]) == 2


def test_claim_nothing_is_204(api: Api) -> None:
    assert api.post("/v2/queues/none/claims").status_code == 204
    api.post_messages("jobs", 1)
    api.post("/v2/queues/jobs/claims")
    result = api.post("/v2/queues/jobs/claims")
    assert result.status_code == 204
    assert result.text == ""


@pytest.mark.parametrize(
    "body",
    [
        {"ttl": 59},
        {"ttl": 43201},
        {"grace": 59},
        {"grace": 43201},
        {"ttl": None, "grace": None},
        {"ttl": "60"},
        {"ttl": True},
        [],
        "fail",
    ],
)
def test_claim_invalid_body(api: Api, body: object) -> None:
    api.post_messages("jobs", 1)
    assert api.post("/v2/queues/jobs/claims", json=body).status_code == 400


@pytest.mark.parametrize("raw", [b"[", b"{", b"nul"])
def test_claim_unparsable_body(api: Api, raw: bytes) -> None:
    assert api.post("/v2/queues/jobs/claims", body=raw).status_code == 400


@pytest.mark.parametrize("limit", ["0", "21", "-3", "x"])
def test_claim_invalid_limit(api: Api, limit: str) -> None:
    api.post_messages("jobs", 1)
    assert api.post("/v2/queues/jobs/claims", query_string=f"limit={limit}").status_code == 400


def test_get_claim(api: Api, clock: ManualClock) -> None:
    ids = api.post_messages("jobs", 1, 2)
    created = api.post("/v2/queues/jobs/claims", json={"ttl": 100, "grace": 60})
    href = created.headers["location"]
    clock.advance(5)
    result = api.get(href)
    assert result.status_code == 200
    doc = result.json
    assert (doc["ttl"], doc["age"], doc["href"]) == (100, 5, href)
    assert [m["id"] for m in doc["messages"]] == ids


def test_unknown_claims(api: Api) -> None:
    api.post_messages("jobs", 1)
    for claim_id in ("nope", "f" * 32, "123"):
        path = f"/v2/queues/jobs/claims/{claim_id}"
        assert api.get(path).status_code == 404
        assert api.patch(path, json={"ttl": 60}).status_code == 404
        assert api.delete(path).status_code == 204


def test_claim_expires(api: Api, clock: ManualClock) -> None:
    api.post_messages("jobs", 1)
    href = api.post("/v2/queues/jobs/claims", json={"ttl": 60, "grace": 60}).headers["location"]
    clock.advance(61)
    assert api.get(href).status_code == 404
    assert api.post("/v2/queues/jobs/claims").status_code == 201


def test_renew_claim(api: Api, clock: ManualClock) -> None:
    api.post_messages("jobs", 1)
    href = api.post("/v2/queues/jobs/claims", json={"ttl": 60, "grace": 60}).headers["location"]
    clock.advance(50)
    assert api.patch(href, json={"ttl": 300, "grace": 60}).status_code == 204
    clock.advance(50)
    doc = api.get(href).json
    assert (doc["ttl"], doc["age"]) == (300, 50)
    assert api.patch(href, json={}).status_code == 204
    assert api.get(href).json["ttl"] == 300


@pytest.mark.parametrize("body", [{"ttl": 1}, {"grace": "x"}, [], {"ttl": None}])
def test_renew_invalid(api: Api, body: object) -> None:
    api.post_messages("jobs", 1)
    href = api.post("/v2/queues/jobs/claims").headers["location"]
    assert api.patch(href, json=body).status_code == 400


def test_renew_needs_body(api: Api) -> None:
    api.post_messages("jobs", 1)
    href = api.post("/v2/queues/jobs/claims").headers["location"]
    assert api.patch(href).status_code == 400


def test_release_claim(api: Api) -> None:
    api.post_messages("jobs", 1)
    href = api.post("/v2/queues/jobs/claims").headers["location"]
    assert api.delete(href).status_code == 204
    assert api.get(href).status_code == 404
    assert api.post("/v2/queues/jobs/claims").status_code == 201


def test_claimed_messages_hidden_unless_asked(api: Api) -> None:
    api.post_messages("jobs", 1, 2)
    api.post("/v2/queues/jobs/claims", params={"limit": 1})
    params = {"echo": "true"}
    assert len(api.get("/v2/queues/jobs/messages", params=params).json["messages"]) == 1
    everything = params | {"include_claimed": "true"}
    listed = api.get("/v2/queues/jobs/messages", params=everything).json["messages"]
    assert len(listed) == 2
    assert "?claim_id=" in listed[0]["href"]


def test_claimed_message_href_has_claim_id(api: Api) -> None:
    (mid,) = api.post_messages("jobs", 1)
    claim_id, _ = claim(api, "jobs")
    href = api.get(f"/v2/queues/jobs/messages/{mid}").json["href"]
    assert href == f"/v2/queues/jobs/messages/{mid}?claim_id={claim_id}"


def test_delete_claimed_message(api: Api) -> None:
    mid, other = api.post_messages("jobs", 1, 2)
    claim_id, _msgs = claim(api, "jobs", limit=1)
    path = f"/v2/queues/jobs/messages/{mid}"
    refused = api.delete(path)
    assert refused.status_code == 403
    assert "claim" in refused.json["description"]
    for bogus in ("123", "invalid", "f" * 32):
        assert api.delete(path, params={"claim_id": bogus}).status_code == 400, bogus
    assert (
        api.delete(f"/v2/queues/jobs/messages/{other}", params={"claim_id": claim_id}).status_code
        == 400
    )
    assert api.delete(path, params={"claim_id": claim_id}).status_code == 204
    assert api.get(path).status_code == 404


def test_delete_with_released_claim_is_400(api: Api) -> None:
    (mid,) = api.post_messages("jobs", 1)
    claim_id, _ = claim(api, "jobs")
    api.delete(f"/v2/queues/jobs/claims/{claim_id}")
    result = api.delete(f"/v2/queues/jobs/messages/{mid}", params={"claim_id": claim_id})
    assert result.status_code == 400
    assert "not currently claimed" in result.json["description"]


def test_delete_with_another_live_claim_is_403(api: Api) -> None:
    first, _second = api.post_messages("jobs", 1, 2)
    _claim_a, _ = claim(api, "jobs", limit=1)
    claim_b, _ = claim(api, "jobs", limit=1)
    result = api.delete(f"/v2/queues/jobs/messages/{first}", params={"claim_id": claim_b})
    assert result.status_code == 403


@pytest.mark.parametrize("limits", [Limits(message_delete_with_claim_id=True)])
def test_bulk_delete_with_claim_ids_mode(api: Api) -> None:
    ids = api.post_messages("jobs", 1, 2, 3)
    claim_id, _ = claim(api, "jobs", limit=2)
    query = f"ids={ids[0]},{ids[2]}"
    assert api.delete("/v2/queues/jobs/messages", query_string=query).status_code == 400
    query += f"&claim_ids={claim_id}"
    assert api.delete("/v2/queues/jobs/messages", query_string=query).status_code == 204
    left = api.get("/v2/queues/jobs/messages", params={"echo": "true", "include_claimed": "1"})
    assert [m["id"] for m in left.json["messages"]] == ids[1:]
