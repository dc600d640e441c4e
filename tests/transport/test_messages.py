"""Messages: post, list, get, bulk get/delete, pop, delete with claims."""

from __future__ import annotations

import json

import pytest

from sqlqueue.domain.clock import ManualClock
from tests.transport.conftest import Api

MESSAGE_KEYS = {"id", "href", "ttl", "age", "body"}


def claim(api: Api, queue: str, limit: int = 10) -> tuple[str, list[dict[str, object]]]:
    result = api.post(f"/v2/queues/{queue}/claims", params={"limit": limit}, json={})
    assert result.status_code == 201, result.text
    return result.headers["location"].rsplit("/", 1)[1], result.json["messages"]


def test_post_creates_queue_and_answers_locations(api: Api) -> None:
    body = {"messages": [{"body": {"n": 1}, "ttl": 300}, {"body": "two"}, {"body": None}]}
    result = api.post("/v2/queues/jobs/messages", json=body)
    assert result.status_code == 201
    resources = result.json["resources"]
    assert set(result.json) == {"resources"}
    assert len(resources) == 3
    ids = [href.rsplit("/", 1)[1] for href in resources]
    assert resources[0] == f"/v2/queues/jobs/messages/{ids[0]}"
    assert result.headers["location"] == f"/v2/queues/jobs/messages?ids={','.join(ids)}"
    assert [q["name"] for q in api.get("/v2/queues").json["queues"]] == ["jobs"]


def test_list_shapes_and_echo(api: Api) -> None:
    ids = api.post_messages("jobs", {"n": 1}, {"n": 2}, ttl=120)
    assert api.get("/v2/queues/jobs/messages").json == {"messages": [], "links": []}
    listed = api.get("/v2/queues/jobs/messages", params={"echo": "true"}).json
    assert [m["id"] for m in listed["messages"]] == ids
    first = listed["messages"][0]
    assert set(first) == MESSAGE_KEYS
    assert first == {
        "id": ids[0],
        "href": f"/v2/queues/jobs/messages/{ids[0]}",
        "ttl": 120,
        "age": 0,
        "body": {"n": 1},
    }
    other = api.get("/v2/queues/jobs/messages", headers={"Client-ID": "1" * 32}).json
    assert [m["id"] for m in other["messages"]] == ids


def test_list_pages_with_next_links(api: Api) -> None:
    ids = api.post_messages("jobs", *range(5))
    seen: list[str] = []
    href = "/v2/queues/jobs/messages?echo=true&limit=2"
    while True:
        path, query = href.split("?")
        page = api.get(path, query_string=query).json
        if not page["messages"]:
            assert page["links"] == []
            break
        seen += [m["id"] for m in page["messages"]]
        href = page["links"][0]["href"]
        assert "echo=true" in href
    assert seen == ids


def test_list_missing_queue_and_bad_marker(api: Api) -> None:
    assert api.get("/v2/queues/none/messages").json == {"messages": [], "links": []}
    api.post_messages("jobs", 1)
    query = "echo=true&marker=garbage"
    assert api.get("/v2/queues/jobs/messages", query_string=query).json["messages"] == []


@pytest.mark.parametrize("limit", ["0", "21", "x"])
def test_list_limit_range(api: Api, limit: str) -> None:
    assert api.get("/v2/queues/jobs/messages", query_string=f"limit={limit}").status_code == 400


def test_age_follows_the_clock(api: Api, clock: ManualClock) -> None:
    (mid,) = api.post_messages("jobs", 1)
    clock.advance(42)
    assert api.get(f"/v2/queues/jobs/messages/{mid}").json["age"] == 42


def test_default_ttl_comes_from_queue(api: Api) -> None:
    api.put("/v2/queues/jobs", json={"_default_message_ttl": 77})
    (mid,) = api.post_messages("jobs", 1)
    assert api.get(f"/v2/queues/jobs/messages/{mid}").json["ttl"] == 77


def test_expired_message_is_gone(api: Api, clock: ManualClock) -> None:
    (mid,) = api.post_messages("jobs", 1, ttl=60)
    clock.advance(61)
    assert api.get(f"/v2/queues/jobs/messages/{mid}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": []},
        {"messages": {}},
        {"messages": [{}]},
        {"messages": [{"ttl": 60}]},
        {"messages": [{"body": 1, "ttl": "60"}]},
        {"messages": [{"body": 1, "ttl": 60.0}]},
        {"messages": [{"body": 1, "ttl": None}]},
        {"messages": [{"body": 1, "ttl": 59}]},
        {"messages": [{"body": 1, "ttl": 1209601}]},
        {"messages": [{"body": 1, "delay": -1}]},
        {"messages": [{"body": 1, "delay": 901}]},
        {"messages": [1]},
        [{"body": 1, "ttl": 60}],
    ],
)
def test_post_invalid_is_400(api: Api, body: object) -> None:
    result = api.post("/v2/queues/jobs/messages", json=body)
    assert result.status_code == 400
    assert set(result.json) == {"title", "description"}
    assert api.get("/v2/queues").json["queues"] == []


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{",
        b'{"messages": [{"body": NaN}]}',
        b'{"messages": [{"body": Infinity}]}',
        b'{"messages": [{"body": 1e999}]}',
        b'{"messages": [{"body": 9223372036854775808}]}',
        b'{"messages": [{"body": "\\ud800"}]}',
        b'{"messages": [{"body": "\xff"}]}',
        b'{"messages": [{"body": ' + b"[" * 100 + b"]" * 100 + b"}]}",
        b"[" * 100000,
    ],
)
def test_post_garbage_is_400(api: Api, raw: bytes) -> None:
    result = api.post("/v2/queues/jobs/messages", body=raw)
    assert result.status_code == 400, result.text


def test_post_accepts_edge_values(api: Api) -> None:
    body = {"n": -(2**63), "m": 2**63 - 1, "s": "é\u0000😀", "deep": [[[[[[[[[[1]]]]]]]]]]}
    (mid,) = api.post_messages("jobs", body)
    assert api.get(f"/v2/queues/jobs/messages/{mid}").json["body"] == body


def test_post_size_limit_from_content_length(api: Api) -> None:
    filler = "x" * 262144
    result = api.post("/v2/queues/jobs/messages", json={"messages": [{"body": filler}]})
    assert result.status_code == 400
    assert "262144" in result.json["description"]
    ok = {"messages": [{"body": "x" * 262000}]}
    assert api.post("/v2/queues/jobs/messages", json=ok).status_code == 201


def test_post_size_limit_of_queue(api: Api) -> None:
    api.put("/v2/queues/small", json={"_max_messages_post_size": 100})
    big = {"messages": [{"body": "x" * 100}]}
    result = api.post("/v2/queues/small/messages", json=big)
    assert result.status_code == 400
    assert "100" in result.json["description"]
    assert (
        api.post("/v2/queues/small/messages", json={"messages": [{"body": 1}]}).status_code == 201
    )


def test_delay_only_for_delayed_queues(api: Api, clock: ManualClock) -> None:
    api.post_messages("plain", 1, delay=300)
    listed = api.get("/v2/queues/plain/messages", params={"echo": "true"}).json["messages"]
    assert len(listed) == 1
    api.put("/v2/queues/slow", json={"_default_message_delay": 30})
    api.post_messages("slow", "default")
    api.post_messages("slow", "later", delay=120)
    params = {"echo": "true"}
    assert api.get("/v2/queues/slow/messages", params=params).json["messages"] == []
    delayed = api.get("/v2/queues/slow/messages", params=params | {"include_delayed": "true"})
    assert len(delayed.json["messages"]) == 2
    clock.advance(31)
    bodies = [
        m["body"] for m in api.get("/v2/queues/slow/messages", params=params).json["messages"]
    ]
    assert bodies == ["default"]


def test_get_by_ids(api: Api) -> None:
    ids = api.post_messages("jobs", 1, 2, 3)
    result = api.get("/v2/queues/jobs/messages", query_string=f"ids={ids[0]},{ids[2]}")
    assert result.status_code == 200
    assert set(result.json) == {"messages"}
    assert sorted(m["body"] for m in result.json["messages"]) == [1, 3]
    repeated = api.get("/v2/queues/jobs/messages", query_string=f"ids={ids[0]}&ids={ids[1]}")
    assert sorted(m["body"] for m in repeated.json["messages"]) == [1, 2]
    partly = api.get("/v2/queues/jobs/messages", query_string=f"ids={ids[0]},nope,99999")
    assert [m["body"] for m in partly.json["messages"]] == [1]


def test_get_by_ids_none_found_is_404(api: Api) -> None:
    api.post_messages("jobs", 1)
    assert api.get("/v2/queues/jobs/messages", params={"ids": "999999"}).status_code == 404
    assert api.get("/v2/queues/none/messages", params={"ids": "1"}).status_code == 404


def test_too_many_ids_is_400(api: Api) -> None:
    ids = ",".join(str(n) for n in range(1, 22))
    assert api.get("/v2/queues/jobs/messages", query_string=f"ids={ids}").status_code == 400
    assert api.delete("/v2/queues/jobs/messages", query_string=f"ids={ids}").status_code == 400


def test_get_one(api: Api) -> None:
    (mid,) = api.post_messages("jobs", {"x": 1})
    result = api.get(f"/v2/queues/jobs/messages/{mid}")
    assert result.status_code == 200
    assert result.json["href"] == f"/v2/queues/jobs/messages/{mid}"
    assert api.get("/v2/queues/jobs/messages/999999").status_code == 404
    assert api.get("/v2/queues/jobs/messages/not-an-id").status_code == 404
    assert api.get(f"/v2/queues/other/messages/{mid}").status_code == 404


def test_bulk_delete(api: Api) -> None:
    ids = api.post_messages("jobs", 1, 2, 3)
    claim(api, "jobs", limit=1)
    query = f"ids={ids[0]},{ids[1]},nope"
    assert api.delete("/v2/queues/jobs/messages", query_string=query).status_code == 204
    left = api.get("/v2/queues/jobs/messages", params={"echo": "true"}).json["messages"]
    assert [m["id"] for m in left] == [ids[2]]
    assert api.delete("/v2/queues/none/messages", params={"ids": "1"}).status_code == 204


@pytest.mark.parametrize(
    "query", ["", "pop=", "pop=0", "pop=-1", "pop=21", "pop=1000000", "pop=x", "ids=1&pop=1"]
)
def test_delete_needs_exactly_ids_or_pop(api: Api, query: str) -> None:
    api.post_messages("jobs", 1)
    assert api.delete("/v2/queues/jobs/messages", query_string=query).status_code == 400


def test_pop(api: Api) -> None:
    ids = api.post_messages("jobs", 1, 2, 3, 4)
    claim(api, "jobs", limit=1)
    result = api.delete("/v2/queues/jobs/messages", params={"pop": 2})
    assert result.status_code == 200
    popped = result.json["messages"]
    assert [m["id"] for m in popped] == ids[1:3]
    assert set(popped[0]) == {"id", "ttl", "age", "body", "claim_id", "claim_count"}
    assert popped[0]["claim_id"] is None
    assert api.get("/v2/queues/jobs/stats").json["messages"]["total"] == 2
    rest = api.delete("/v2/queues/jobs/messages", params={"pop": 5}).json["messages"]
    assert [m["body"] for m in rest] == [4]
    assert api.delete("/v2/queues/jobs/messages", params={"pop": 1}).json == {"messages": []}


def test_delete_one(api: Api) -> None:
    (mid,) = api.post_messages("jobs", 1)
    assert api.delete(f"/v2/queues/jobs/messages/{mid}").status_code == 204
    assert api.get(f"/v2/queues/jobs/messages/{mid}").status_code == 404
    assert api.delete(f"/v2/queues/jobs/messages/{mid}").status_code == 204
    assert api.delete("/v2/queues/none/messages/abc").status_code == 204


def test_unicode_bodies_round_trip_unescaped(api: Api) -> None:
    (mid,) = api.post_messages("jobs", "héllo ✓")
    result = api.get(f"/v2/queues/jobs/messages/{mid}")
    assert "héllo ✓" in result.text
    assert json.loads(result.text)["body"] == "héllo ✓"
