"""``/v2/topics`` and everything under it, over HTTP, on every backend (docs/topics.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.transport.conftest import ALL_BACKENDS, Api

pytestmark = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)

T = "/v2/topics/news"
PATCH = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}
DEFAULTS = {
    "_max_messages_post_size": 262144,
    "_default_message_ttl": 3600,
    "_default_message_delay": 0,
}
HOOK = "http://hooks.example/news"


def refused(result: Any, status: int, title: str | None = None) -> str:
    """Check a Zaqar error body; its description."""
    assert result.status_code == status, result.text
    assert set(result.json) == {"title", "description"}
    if title is not None:
        assert result.json["title"] == title
    return str(result.json["description"])


def post(api: Api, path: str, *bodies: Any) -> list[str]:
    result = api.post(f"{path}/messages", json={"messages": [{"body": b} for b in bodies]})
    assert result.status_code == 201, result.text
    return [href.rsplit("/", 1)[1] for href in result.json["resources"]]


def subscribe(api: Api, path: str, subscriber: str = HOOK) -> str:
    result = api.post(f"{path}/subscriptions", json={"subscriber": subscriber, "ttl": 600})
    assert result.status_code == 201, result.text
    return str(result.json["subscription_id"])


def test_create_read_and_delete(api: Api) -> None:
    created = api.put(T, json={"description": "daily"})
    assert (created.status_code, created.headers["location"], created.text) == (201, T, "")
    again = api.put(T, json={"description": "changed"})
    assert (again.status_code, again.headers["location"]) == (204, T)
    assert api.get(T).json == {"description": "daily", **DEFAULTS}
    assert api.get("/v2/topics/missing").json == DEFAULTS
    assert api.as_project("other").get(T).json == DEFAULTS
    assert api.delete(T).status_code == 204
    assert api.delete(T).status_code == 204
    assert api.get(T).json == DEFAULTS


@pytest.mark.parametrize(
    "name", ["a" * 65, "bad~name", "sp%20ace", "caf%C3%A9", "a:b"], ids=lambda n: n[:10]
)
def test_bad_names_are_refused(api: Api, name: str) -> None:
    for method in ("PUT", "GET", "DELETE"):
        description = refused(
            api.request(method, f"/v2/topics/{name}"), 400, "Invalid topic identification"
        )
        assert "topic name" in description
    refused(api.post(f"/v2/topics/{name}/messages", json={}), 400, "Invalid topic identification")


def test_bad_metadata_is_refused(api: Api) -> None:
    refused(api.put(T, json={"_default_message_ttl": 0}), 400)
    refused(api.put(T, json=[1, 2]), 400)
    refused(api.put(T, body="{not json", headers={"Content-Type": "application/json"}), 400)
    refused(api.put(T, json={"big": "x" * 65536}), 400)
    assert api.get("/v2/topics").json == {"topics": [], "links": []}


def test_listing(api: Api) -> None:
    for i in range(12):
        assert api.put(f"/v2/topics/t{i:02d}", json={"i": i, "even": i % 2 == 0}).status_code == 201
    api.put("/v2/queues/q1")
    first = api.get("/v2/topics").json
    assert [t["name"] for t in first["topics"]] == [f"t{i:02d}" for i in range(10)]
    assert first["topics"][0] == {"name": "t00", "href": "/v2/topics/t00"}
    href = first["links"][0]["href"]
    assert href.startswith("/v2/topics?") and "marker=t09" in href
    second = api.get(href).json
    assert [t["name"] for t in second["topics"]] == ["t10", "t11"]
    assert api.get(second["links"][0]["href"]).json == {"topics": [], "links": []}
    detailed = api.get("/v2/topics", params={"detailed": "true", "limit": "1"}).json
    assert detailed["topics"][0]["metadata"] == {"i": 0, "even": True, **DEFAULTS}
    named = api.get("/v2/topics", params={"name": "1"}).json["topics"]
    assert [t["name"] for t in named] == ["t01", "t10", "t11"]
    filtered = api.get("/v2/topics", params={"i": "11"}).json["topics"]
    assert [t["name"] for t in filtered] == ["t11"]
    assert [q["name"] for q in api.get("/v2/queues").json["queues"]] == ["q1"]
    for limit in ("0", "21", "x"):
        refused(api.get("/v2/topics", params={"limit": limit}), 400)
    refused(api.get("/v2/topics", params={"detailed": "None"}), 400)


def test_patch(api: Api) -> None:
    add = [{"op": "add", "path": "/metadata/color", "value": "red"}]
    description = refused(api.patch(T, json=add), 415)
    assert "application/openstack-messaging-v2.0-json-patch" in description
    missing = refused(api.patch(T, body=json.dumps(add), headers=PATCH), 404)
    assert missing == "Topic news does not exist"
    api.put(T, json={"a": 1})
    result = api.patch(T, body=json.dumps(add), headers=PATCH)
    assert result.status_code == 200
    assert result.json == {"a": 1, "color": "red", **DEFAULTS}
    remove = [{"op": "remove", "path": "/metadata/nothing"}]
    refused(api.patch(T, body=json.dumps(remove), headers=PATCH), 409)
    refused(api.patch(T, body="", headers=PATCH), 400)
    refused(api.patch(T, body=json.dumps([{"op": "move"}]), headers=PATCH), 400)
    ttl = [{"op": "replace", "path": "/metadata/_default_message_ttl", "value": 0}]
    refused(api.patch(T, body=json.dumps(ttl), headers=PATCH), 400)
    assert api.get(T).json == {"a": 1, "color": "red", **DEFAULTS}


def test_stats(api: Api) -> None:
    assert api.get(f"{T}/stats").json == {"messages": {"free": 0, "claimed": 0, "total": 0}}
    api.put(T)
    assert api.get(f"{T}/stats").json == {"messages": {"total": 0}}
    first, _, last = post(api, T, 1, 2, 3)
    counts = api.get(f"{T}/stats").json["messages"]
    assert set(counts) == {"total", "oldest", "newest"}
    assert counts["total"] == 3
    assert counts["oldest"]["href"] == f"{T}/messages/{first}"
    assert counts["newest"]["href"] == f"{T}/messages/{last}"


def test_messages(api: Api) -> None:
    result = api.post(f"{T}/messages", json={"messages": [{"body": {"n": 1}}, {"body": 2}]})
    assert result.status_code == 201
    ids = [href.rsplit("/", 1)[1] for href in result.json["resources"]]
    assert result.json["resources"] == [f"{T}/messages/{i}" for i in ids]
    assert result.headers["location"] == f"{T}/messages?ids={','.join(ids)}"
    page = api.get(f"{T}/messages", params={"echo": "true"}).json
    assert [m["href"] for m in page["messages"]] == [f"{T}/messages/{i}" for i in ids]
    assert page["messages"][0]["body"] == {"n": 1}
    assert api.get(f"{T}/messages").json == {"messages": [], "links": []}  # echo is off
    one = api.get(f"{T}/messages/{ids[0]}").json
    assert (one["id"], one["href"], one["body"]) == (ids[0], f"{T}/messages/{ids[0]}", {"n": 1})
    both = api.get(f"{T}/messages", query_string=f"ids={','.join(ids)}").json["messages"]
    assert sorted(m["id"] for m in both) == sorted(ids)
    assert api.delete(f"{T}/messages", query_string=f"ids={ids[1]}").status_code == 204
    assert api.delete(f"{T}/messages/{ids[0]}").status_code == 204
    assert api.delete(f"{T}/messages/{ids[0]}").status_code == 204
    refused(api.get(f"{T}/messages/{ids[0]}"), 404)
    refused(api.get(f"{T}/messages", query_string=f"ids={','.join(ids)}"), 404)


def test_bad_message_requests(api: Api) -> None:
    [mid] = post(api, T, "x")
    for body in ({}, {"messages": []}, {"messages": [{"ttl": 60}]}, {"messages": "x"}):
        refused(api.post(f"{T}/messages", json=body), 400)
    refused(api.post(f"{T}/messages", json={"messages": [{"body": 1, "ttl": 1}]}), 400)
    big = {"messages": [{"body": "x" * 262144}]}
    assert "262144" in refused(api.post(f"{T}/messages", json=big), 400)
    assert "popped" in refused(api.delete(f"{T}/messages", params={"pop": "1"}), 400)
    refused(api.delete(f"{T}/messages"), 400)
    refused(api.get(f"{T}/messages", params={"limit": "21"}), 400)
    refused(api.get(f"{T}/messages", query_string="ids=" + ",".join(map(str, range(21)))), 400)
    refused(api.delete(f"{T}/messages/{mid}", params={"claim_id": "bogus"}), 400)
    refused(api.as_project("other").get(f"{T}/messages/{mid}"), 404)
    assert api.request("POST", f"{T}/claims", json={}).status_code == 404
    assert api.request("POST", T).status_code == 405


def test_subscriptions(api: Api) -> None:
    sid = subscribe(api, T)
    result = api.post(f"{T}/subscriptions", json={"subscriber": "mailto:ops@example.com"})
    assert (result.status_code, result.headers["location"]) == (201, f"{T}/subscriptions")
    other = result.json["subscription_id"]
    listed = api.get(f"{T}/subscriptions").json["subscriptions"]
    assert {(s["id"], s["source"]) for s in listed} == {(sid, "news"), (other, "news")}
    one = api.get(f"{T}/subscriptions/{sid}").json
    assert (one["subscriber"], one["ttl"], one["source"]) == (HOOK, 600, "news")
    assert one["delivery"] == {"delivered": 0, "pending": 0, "failed": 0, "last_error": None}
    assert api.patch(f"{T}/subscriptions/{sid}", json={"ttl": 300}).status_code == 204
    assert api.get(f"{T}/subscriptions/{sid}").json["ttl"] == 300
    taken = api.patch(f"{T}/subscriptions/{other}", json={"subscriber": HOOK})
    refused(taken, 409)
    refused(api.patch(f"{T}/subscriptions/{sid}", json={"ttl": "x"}), 400)
    put = api.put(f"{T}/subscriptions/{sid}/confirm", json={"confirmed": True})
    assert put.status_code == 204
    assert api.get(f"{T}/subscriptions/{sid}").json["confirmed"] is True
    refused(api.post(f"{T}/subscriptions", json={"subscriber": HOOK}), 409)
    refused(api.post(f"{T}/subscriptions", json={"subscriber": "ftp://x"}), 400)
    refused(api.put(f"{T}/subscriptions/{sid}/confirm", json={"confirmed": "yes"}), 400)
    unknown = f"{T}/subscriptions/{'d' * 32}"
    refused(api.get(unknown), 404)
    refused(api.patch(unknown, json={"ttl": 300}), 404)
    refused(api.put(f"{unknown}/confirm", json={"confirmed": True}), 404)
    assert api.delete(f"{T}/subscriptions/{sid}").status_code == 204
    assert api.delete(f"{T}/subscriptions/{sid}").status_code == 204
    assert [s["id"] for s in api.get(f"{T}/subscriptions").json["subscriptions"]] == [other]


def test_purge(api: Api) -> None:
    post(api, T, 1, 2)
    subscribe(api, T)
    refused(api.post(f"{T}/purge", json={"resource_types": ["queues"]}), 400)
    assert api.post(f"{T}/purge", json={"resource_types": ["messages"]}).status_code == 204
    assert api.get(f"{T}/stats").json == {"messages": {"total": 0}}
    assert len(api.get(f"{T}/subscriptions").json["subscriptions"]) == 1
    assert api.post(f"{T}/purge").status_code == 204
    assert api.get(f"{T}/subscriptions").json["subscriptions"] == []
    assert api.get(T).json == DEFAULTS  # the topic is still there
    assert [t["name"] for t in api.get("/v2/topics").json["topics"]] == ["news"]


def test_topic_and_queue_of_one_name_stay_apart(api: Api) -> None:
    """Zaqar 23 deletes and purges queue X's data through topic X; sqlqueue does not."""
    q = "/v2/queues/news"
    api.put(q, json={"owner": "queue"})
    api.put(T, json={"owner": "topic"})
    queue_ids = post(api, q, "q1", "q2")
    topic_ids = post(api, T, "t1")
    queue_sub, topic_sub = subscribe(api, q), subscribe(api, T)
    assert api.get(q).json["owner"] == "queue"
    assert api.get(T).json["owner"] == "topic"
    assert api.get(f"{q}/stats").json["messages"]["total"] == 2
    refused(api.get(f"{T}/messages/{queue_ids[0]}"), 404)
    refused(api.get(f"{q}/messages/{topic_ids[0]}"), 404)
    assert [s["id"] for s in api.get(f"{q}/subscriptions").json["subscriptions"]] == [queue_sub]
    assert [s["id"] for s in api.get(f"{T}/subscriptions").json["subscriptions"]] == [topic_sub]
    assert api.post(f"{T}/purge").status_code == 204
    assert api.delete(T).status_code == 204
    assert api.get(q).json["owner"] == "queue"
    assert api.get(f"{q}/stats").json["messages"]["total"] == 2
    assert [s["id"] for s in api.get(f"{q}/subscriptions").json["subscriptions"]] == [queue_sub]
    assert [t["name"] for t in api.get("/v2/queues").json["queues"]] == ["news"]
    assert api.get("/v2/topics").json["topics"] == []
    post(api, T, "again")
    assert api.delete(q).status_code == 204
    assert api.get(f"{T}/stats").json["messages"]["total"] == 1
