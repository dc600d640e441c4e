"""Queues: create, read, list, patch, delete, stats, purge."""

from __future__ import annotations

import json

import falcon.testing
import pytest

from tests.transport.conftest import Api

PATCH = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}
DEFAULTS = {
    "_default_message_ttl": 3600,
    "_max_messages_post_size": 262144,
    "_default_message_delay": 0,
    "_dead_letter_queue": None,
    "_dead_letter_queue_messages_ttl": None,
    "_max_claim_count": None,
    "_enable_encrypt_messages": False,
}


def patch(api: Api, queue: str, ops: object, **headers: str) -> falcon.testing.Result:
    return api.patch(f"/v2/queues/{queue}", body=json.dumps(ops), headers=PATCH | headers)


def test_put_creates_then_leaves_alone(api: Api) -> None:
    created = api.put("/v2/queues/jobs", json={"description": "first"})
    assert created.status_code == 201
    assert created.headers["location"] == "/v2/queues/jobs"
    again = api.put("/v2/queues/jobs", json={"description": "second"})
    assert again.status_code == 204
    assert api.get("/v2/queues/jobs").json["description"] == "first"


def test_get_shows_reserved_defaults(api: Api) -> None:
    api.put("/v2/queues/jobs", json={"description": "d", "_default_message_ttl": 120})
    result = api.get("/v2/queues/jobs")
    assert result.status_code == 200
    assert result.json == DEFAULTS | {"description": "d", "_default_message_ttl": 120}


def test_get_missing_queue_is_defaults(api: Api) -> None:
    result = api.get("/v2/queues/nothing")
    assert result.status_code == 200
    assert result.json == DEFAULTS


@pytest.mark.parametrize(
    "metadata",
    [
        {"_default_message_ttl": 0},
        {"_default_message_ttl": 59},
        {"_default_message_ttl": 1209601},
        {"_default_message_ttl": "3600"},
        {"_default_message_ttl": 3600.5},
        {"_max_messages_post_size": 0},
        {"_max_messages_post_size": 262145},
        {"_default_message_delay": 901},
        {"_default_message_delay": -1},
        {"_dead_letter_queue": "bad name"},
        {"_dead_letter_queue": 5},
        {"_dead_letter_queue_messages_ttl": 10},
        {"_max_claim_count": "123"},
        {"_max_claim_count": True},
        {"_enable_encrypt_messages": "yes"},
        {"_enable_encrypt_messages": True},
        {"_retry_policy": {"retry_backoff_function": "random"}},
        {"_retry_policy": {"minimum_delay": "5"}},
        {"_flavor": 1},
    ],
)
def test_put_rejects_bad_reserved_metadata(api: Api, metadata: dict[str, object]) -> None:
    result = api.put("/v2/queues/jobs", json=metadata)
    assert result.status_code == 400, metadata
    assert result.json["title"] == "Invalid request body"
    assert api.get("/v2/queues").json["queues"] == []


def test_put_accepts_full_reserved_metadata(api: Api) -> None:
    metadata = {
        "_default_message_ttl": 60,
        "_max_messages_post_size": 1000,
        "_default_message_delay": 900,
        "_dead_letter_queue": "dead.letters",
        "_dead_letter_queue_messages_ttl": 1209600,
        "_max_claim_count": 3,
        "_retry_policy": {"retries_with_no_delay": 3, "retry_backoff_function": "linear"},
        "_flavor": "gold",
        "_other": {"x": 1},
    }
    assert api.put("/v2/queues/jobs", json=metadata).status_code == 201
    assert api.get("/v2/queues/jobs").json == DEFAULTS | metadata


@pytest.mark.parametrize("body", ["[]", "[1]", '"text"', "1", "null", "{", "{'a': 1}"])
def test_put_rejects_non_object_bodies(api: Api, body: str) -> None:
    assert api.put("/v2/queues/jobs", body=body).status_code == 400


def test_put_metadata_size_limit(api: Api) -> None:
    big = {"blob": "x" * 65536}
    result = api.put("/v2/queues/jobs", json=big)
    assert result.status_code == 400
    assert "65536" in result.json["description"]
    assert api.put("/v2/queues/jobs", json={"blob": "x" * 65000}).status_code == 201


def test_put_without_body(api: Api) -> None:
    assert api.put("/v2/queues/jobs").status_code == 201
    assert api.get("/v2/queues/jobs").json == DEFAULTS


def test_delete_is_idempotent(api: Api) -> None:
    api.put("/v2/queues/jobs")
    api.post_messages("jobs", 1, 2)
    assert api.delete("/v2/queues/jobs").status_code == 204
    assert api.delete("/v2/queues/jobs").status_code == 204
    assert api.get("/v2/queues").json == {"queues": [], "links": []}
    assert api.get("/v2/queues/jobs/stats").json["messages"]["total"] == 0


def test_list_pages_by_name(api: Api) -> None:
    for name in ("c", "a", "e", "b", "d"):
        api.put(f"/v2/queues/{name}")
    first = api.get("/v2/queues", params={"limit": 2})
    assert first.status_code == 200
    assert [q["name"] for q in first.json["queues"]] == ["a", "b"]
    assert first.json["queues"][0] == {"name": "a", "href": "/v2/queues/a"}
    (link,) = first.json["links"]
    assert link["rel"] == "next"
    assert link["href"].startswith("/v2/queues?")
    assert "marker=b" in link["href"] and "limit=2" in link["href"]
    second = api.get(link["href"].split("?")[0], query_string=link["href"].split("?")[1])
    assert [q["name"] for q in second.json["queues"]] == ["c", "d"]
    last = api.get("/v2/queues", params={"marker": "d", "limit": 2})
    assert [q["name"] for q in last.json["queues"]] == ["e"]
    assert len(last.json["links"]) == 1
    empty = api.get("/v2/queues", params={"marker": "e"})
    assert empty.json == {"queues": [], "links": []}


def test_list_default_page_is_ten(api: Api) -> None:
    for n in range(12):
        api.put(f"/v2/queues/q{n:02d}")
    assert len(api.get("/v2/queues").json["queues"]) == 10
    assert len(api.get("/v2/queues", params={"limit": 20}).json["queues"]) == 12


@pytest.mark.parametrize("limit", ["0", "21", "-1", "abc", "1.5"])
def test_list_limit_out_of_range(api: Api, limit: str) -> None:
    assert api.get("/v2/queues", query_string=f"limit={limit}").status_code == 400


def test_list_detailed_filters_and_count(api: Api) -> None:
    api.put("/v2/queues/alpha", json={"kind": "x", "n": 1})
    api.put("/v2/queues/beta", json={"kind": "y", "n": 2})
    api.put("/v2/queues/alphabet", json={"kind": "x", "n": 2})
    detailed = api.get("/v2/queues", params={"detailed": "true"}).json["queues"]
    assert detailed[0]["metadata"] == DEFAULTS | {"kind": "x", "n": 1}
    by_name = api.get("/v2/queues", params={"name": "lph"}).json["queues"]
    assert [q["name"] for q in by_name] == ["alpha", "alphabet"]
    filtered = api.get("/v2/queues", query_string="kind=x&n=2").json["queues"]
    assert [q["name"] for q in filtered] == ["alphabet"]
    counted = api.get("/v2/queues", params={"with_count": "True", "limit": 1}).json
    assert counted["count"] == 3
    assert "count" not in api.get("/v2/queues").json


def test_list_bad_boolean_is_400(api: Api) -> None:
    assert api.get("/v2/queues", params={"detailed": "None"}).status_code == 400


def test_patch_add_replace_remove(api: Api) -> None:
    api.put("/v2/queues/jobs", json={"a": 1, "b": 2})
    ops = [
        {"op": "add", "path": "/metadata/c", "value": 3},
        {"op": "replace", "path": "/metadata/a", "value": 10},
        {"op": "remove", "path": "/metadata/b"},
        {"op": "replace", "path": "/metadata/_default_message_ttl", "value": 600},
        {"op": "remove", "path": "/metadata/_max_claim_count"},
    ]
    result = patch(api, "jobs", ops)
    assert result.status_code == 200
    expected = DEFAULTS | {"a": 10, "c": 3, "_default_message_ttl": 600}
    assert result.json == expected
    assert api.get("/v2/queues/jobs").json == expected


def test_patch_escaped_pointer(api: Api) -> None:
    api.put("/v2/queues/jobs")
    ops = [{"op": "add", "path": "/metadata/a~1b~0c", "value": 1}]
    assert patch(api, "jobs", ops).json["a/b~c"] == 1


@pytest.mark.parametrize("op", ["replace", "remove"])
def test_patch_absent_key_is_409(api: Api, op: str) -> None:
    api.put("/v2/queues/jobs")
    result = patch(api, "jobs", [{"op": op, "path": "/metadata/nope", "value": 1}])
    assert result.status_code == 409


@pytest.mark.parametrize(
    "ops",
    [
        [],
        {},
        [{"op": "move", "path": "/metadata/a", "value": 1}],
        [{"op": "add", "path": "/metadata/a/b", "value": 1}],
        [{"op": "add", "path": "/other/a", "value": 1}],
        [{"op": "add", "path": "metadata/a", "value": 1}],
        [{"op": "add", "path": "/metadata/a"}],
        [{"op": "add", "path": "/metadata/"}],
        [{"path": "/metadata/a", "value": 1}],
        [{"op": "add", "path": "/metadata/_default_message_ttl", "value": 0}],
        ["add"],
    ],
)
def test_patch_invalid_is_400(api: Api, ops: object) -> None:
    api.put("/v2/queues/jobs", json={"a": 1})
    assert patch(api, "jobs", ops).status_code == 400
    assert api.get("/v2/queues/jobs").json["a"] == 1


def test_patch_empty_body_is_400(api: Api) -> None:
    api.put("/v2/queues/jobs")
    assert api.patch("/v2/queues/jobs", headers=PATCH).status_code == 400


def test_patch_wrong_content_type_is_415(api: Api) -> None:
    api.put("/v2/queues/jobs")
    ops = [{"op": "add", "path": "/metadata/a", "value": 1}]
    result = api.patch("/v2/queues/jobs", json=ops)
    assert result.status_code == 415
    assert "application/openstack-messaging-v2.0-json-patch" in result.json["description"]


def test_patch_missing_queue_is_404(api: Api) -> None:
    result = patch(api, "nothing", [{"op": "add", "path": "/metadata/a", "value": 1}])
    assert result.status_code == 404


def test_stats(api: Api) -> None:
    assert api.get("/v2/queues/jobs/stats").json == {
        "messages": {"free": 0, "claimed": 0, "total": 0}
    }
    ids = api.post_messages("jobs", 1, 2, 3)
    api.post("/v2/queues/jobs/claims", params={"limit": 1}, json={"ttl": 60, "grace": 60})
    stats = api.get("/v2/queues/jobs/stats").json["messages"]
    assert (stats["free"], stats["claimed"], stats["total"]) == (2, 1, 3)
    assert stats["oldest"]["href"] == f"/v2/queues/jobs/messages/{ids[0]}"
    assert stats["newest"]["href"] == f"/v2/queues/jobs/messages/{ids[2]}"
    assert stats["oldest"]["created"].endswith("Z") and len(stats["oldest"]["created"]) == 20
    assert stats["oldest"]["age"] == 0


def test_purge_everything_by_default(api: Api) -> None:
    api.put("/v2/queues/jobs", json={"keep": True})
    api.post_messages("jobs", *range(150))
    api.post("/v2/queues/jobs/claims", json={"ttl": 60, "grace": 60})
    api.post("/v2/queues/jobs/subscriptions", json={"subscriber": "http://example.com/hook"})
    assert api.post("/v2/queues/jobs/purge").status_code == 204
    assert api.get("/v2/queues/jobs/stats").json["messages"]["total"] == 0
    assert api.get("/v2/queues/jobs/subscriptions").json["subscriptions"] == []
    assert api.get("/v2/queues/jobs").json["keep"] is True


@pytest.mark.parametrize(("kind", "left"), [("messages", (0, 1)), ("subscriptions", (2, 0))])
def test_purge_one_kind(api: Api, kind: str, left: tuple[int, int]) -> None:
    api.post_messages("jobs", 1, 2)
    api.post("/v2/queues/jobs/subscriptions", json={"subscriber": "mailto:a@example.com"})
    result = api.post("/v2/queues/jobs/purge", json={"resource_types": [kind]})
    assert result.status_code == 204
    total = api.get("/v2/queues/jobs/stats").json["messages"]["total"]
    subs = api.get("/v2/queues/jobs/subscriptions").json["subscriptions"]
    assert (total, len(subs)) == left


@pytest.mark.parametrize(
    "body",
    [
        {"resource_types": ["queues"]},
        {"resource_types": []},
        {"resource_types": "messages"},
        {"other": 1},
        [],
    ],
)
def test_purge_invalid(api: Api, body: object) -> None:
    assert api.post("/v2/queues/jobs/purge", json=body).status_code == 400


def test_purge_missing_queue(api: Api) -> None:
    assert api.post("/v2/queues/nothing/purge").status_code == 204
