"""Every action of Zaqar's websocket API, on every backend, over a real socket."""

from __future__ import annotations

import uuid

from tests.websocket.conftest import Client, RunningServer


def test_authenticate_is_accepted_in_noauth(client: Client) -> None:
    headers = {**client.headers, "X-Auth-Token": "any-token"}
    client.send("authenticate", headers=headers)
    frame = client.recv()
    assert frame["headers"] == {"status": 200}
    assert frame["body"] == {"message": "Authentified."}
    assert frame["request"]["action"] == "authenticate"
    assert client.call("queue_list") == (200, {"queues": []})


def test_reply_echoes_the_request(client: Client) -> None:
    body = {"queue_name": "echoed", "metadata": {"k": 1}}
    client.send("queue_create", body)
    frame = client.recv()
    assert frame["request"] == {
        "action": "queue_create",
        "body": body,
        "headers": client.headers,
        "api": "v2",
    }
    assert frame["headers"] == {"status": 201}
    assert frame["body"] == "Queue echoed created."


def test_queue_create_get_list_delete(client: Client) -> None:
    assert client.call("queue_create", {"queue_name": "q1", "metadata": {"a": 1}}) == (
        201,
        "Queue q1 created.",
    )
    assert client.call("queue_create", {"queue_name": "q1"}) == (204, "Queue q1 created.")
    assert client.call("queue_create", {"queue_name": "q2"})[0] == 201
    assert client.call("queue_get", {"queue_name": "q1"}) == (200, {"a": 1})
    assert client.call("queue_get", {"queue_name": "missing"}) == (200, {})
    assert client.call("queue_list") == (200, {"queues": [{"name": "q1"}, {"name": "q2"}]})
    status, body = client.call("queue_list", {"limit": 1, "detailed": True})
    assert status == 200
    assert body["queues"] == [{"name": "q1", "metadata": {"a": 1}}]
    assert client.call("queue_list", {"marker": body["next"]})[1]["queues"] == [{"name": "q2"}]
    assert client.call("queue_delete", {"queue_name": "q1"}) == (204, "Queue q1 removed.")
    assert client.call("queue_list")[1]["queues"] == [{"name": "q2"}]


def test_queues_are_per_project(server: RunningServer, client: Client) -> None:
    client.call("queue_create", {"queue_name": "mine"})
    other = server.client(project="someone-else")
    try:
        assert other.call("queue_list") == (200, {"queues": []})
    finally:
        other.close()


def test_queue_create_refuses_bad_names_and_metadata(client: Client) -> None:
    status, body = client.call("queue_create", {"queue_name": "bad name!"})
    assert status == 400 and "queue name" in body["error"]
    status, body = client.call("queue_create", {"queue_name": "x" * 65})
    assert status == 400
    status, body = client.call(
        "queue_create", {"queue_name": "q", "metadata": {"_default_message_ttl": 1}}
    )
    assert status == 400 and body["title"] == "Invalid request body"
    status, body = client.call(
        "queue_create", {"queue_name": "q", "metadata": {"big": "x" * 70000}}
    )
    assert status == 400 and "too large" in body["error"]
    assert client.call("queue_list") == (200, {"queues": []})


def test_queue_stats(client: Client) -> None:
    status, body = client.call("queue_get_stats", {"queue_name": "missing"})
    assert (status, body) == (404, {"messages": {"claimed": 0, "free": 0, "total": 0}})
    client.call("queue_create", {"queue_name": "s"})
    assert client.call("queue_get_stats", {"queue_name": "s"}) == (
        200,
        {"messages": {"claimed": 0, "free": 0, "total": 0}},
    )
    first, last = client.post("s", 1, 2)
    client.call("claim_create", {"queue_name": "s", "limit": 1})
    status, body = client.call("queue_get_stats", {"queue_name": "s"})
    counts = body["messages"]
    assert (counts["claimed"], counts["free"], counts["total"]) == (1, 1, 2)
    assert counts["oldest"]["id"] == first and counts["newest"]["id"] == last
    assert set(counts["oldest"]) == {"id", "age", "created"}


def test_queue_purge(client: Client) -> None:
    client.post("p", *range(5))
    client.call("subscription_create", {"queue_name": "p", "subscriber": "http://h.example/x"})
    status, _ = client.call("queue_purge", {"queue_name": "p", "resource_types": ["messages"]})
    assert status == 204
    assert client.call("message_list", {"queue_name": "p", "echo": True})[1]["messages"] == []
    assert len(client.call("subscription_list", {"queue_name": "p"})[1]["subscriptions"]) == 1
    assert client.call("queue_purge", {"queue_name": "p"}) == (204, {})
    assert client.call("subscription_list", {"queue_name": "p"})[1]["subscriptions"] == []
    status, _body = client.call("queue_purge", {"queue_name": "p", "resource_types": ["x"]})
    assert status == 400


def test_message_post_list_get(client: Client) -> None:
    ids = client.post("m", {"n": 1}, "two", [3])
    assert len(ids) == 3
    status, body = client.call("message_list", {"queue_name": "m"})
    assert (status, body) == (200, {"messages": []})  # own messages hidden without echo
    status, body = client.call("message_list", {"queue_name": "m", "echo": True, "limit": 2})
    assert status == 200
    assert [m["body"] for m in body["messages"]] == [{"n": 1}, "two"]
    assert set(body["messages"][0]) == {"id", "claim_id", "ttl", "age", "body"}
    rest = client.call("message_list", {"queue_name": "m", "echo": True, "marker": body["next"]})
    assert [m["body"] for m in rest[1]["messages"]] == [[3]]
    status, body = client.call("message_get", {"queue_name": "m", "message_id": ids[1]})
    assert status == 200
    assert body["messages"]["id"] == ids[1] and body["messages"]["body"] == "two"
    status, body = client.call("message_get", {"queue_name": "m", "message_id": "99999"})
    assert status == 404
    status, body = client.call(
        "message_get_many", {"queue_name": "m", "message_ids": [ids[0], ids[2], "99999"]}
    )
    assert status == 200 and [m["id"] for m in body["messages"]] == [ids[0], ids[2]]
    assert client.call("message_get_many", {"queue_name": "m", "message_ids": ["99999"]}) == (
        200,
        {"messages": []},
    )


def test_message_post_ttl_and_delay(client: Client) -> None:
    client.call("queue_create", {"queue_name": "t", "metadata": {"_default_message_delay": 30}})
    status, _body = client.call(
        "message_post", {"queue_name": "t", "messages": [{"body": 1, "ttl": 120, "delay": 60}]}
    )
    assert status == 201
    listing = client.call("message_list", {"queue_name": "t", "echo": True})[1]
    assert listing["messages"] == []  # delayed
    listing = client.call(
        "message_list", {"queue_name": "t", "echo": True, "include_delayed": True}
    )[1]
    assert [m["ttl"] for m in listing["messages"]] == [120]


def test_message_post_refuses_bad_batches(client: Client) -> None:
    for messages in ([], [{"ttl": 60}], [{"body": 1, "ttl": 5}], [{"body": 1, "ttl": "x"}]):
        status, body = client.call("message_post", {"queue_name": "b", "messages": messages})
        assert status == 400, messages
        assert body["error"]
    status, body = client.call("message_post", {"queue_name": "b", "messages": "nope"})
    assert status == 400 and "Schema validation failed" in body["error"]
    headers = {**client.headers, "Client-ID": "not-a-uuid"}
    status, body = client.call(
        "message_post", {"queue_name": "b", "messages": [{"body": 1}]}, headers=headers
    )
    assert status == 400 and "UUID" in body["error"]
    assert client.call("queue_get_stats", {"queue_name": "b"})[0] == 404


def test_message_post_size_limit(client: Client) -> None:
    big = "x" * 262144
    status, body = client.call("message_post", {"queue_name": "big", "messages": [{"body": big}]})
    assert status == 400 and "too large" in body["error"]
    fits = "x" * 200000
    assert (
        client.call("message_post", {"queue_name": "big", "messages": [{"body": fits}]})[0] == 201
    )


def test_message_delete_and_claims(client: Client) -> None:
    ids = client.post("d", 1, 2, 3)
    assert client.call("message_delete", {"queue_name": "d", "message_id": ids[0]}) == (204, {})
    status, claim = client.call("claim_create", {"queue_name": "d", "ttl": 60, "grace": 60})
    assert status == 201
    claim_id = claim["claim_id"]
    assert [m["id"] for m in claim["messages"]] == ids[1:]
    assert all(m["claim_id"] == claim_id for m in claim["messages"])
    status, body = client.call("message_delete", {"queue_name": "d", "message_id": ids[1]})
    assert status == 403
    status, body = client.call(
        "message_delete",
        {"queue_name": "d", "message_id": ids[1], "claim_id": uuid.uuid4().hex},
    )
    assert status == 400
    assert client.call(
        "message_delete", {"queue_name": "d", "message_id": ids[1], "claim_id": claim_id}
    ) == (204, {})
    status, body = client.call("claim_get", {"queue_name": "d", "claim_id": claim_id})
    assert status == 200 and body["ttl"] == 60 and [m["id"] for m in body["messages"]] == [ids[2]]
    assert client.call(
        "claim_update", {"queue_name": "d", "claim_id": claim_id, "ttl": 120, "grace": 60}
    ) == (204, f"Claim {claim_id} updated.")
    assert client.call("claim_get", {"queue_name": "d", "claim_id": claim_id})[1]["ttl"] == 120
    assert client.call("claim_create", {"queue_name": "d"}) == (204, {"claim_id": None})
    assert client.call("claim_delete", {"queue_name": "d", "claim_id": claim_id}) == (
        204,
        f"Claim {claim_id} deleted.",
    )
    assert client.call("claim_get", {"queue_name": "d", "claim_id": claim_id})[0] == 404
    assert client.call("claim_create", {"queue_name": "d", "limit": 5})[0] == 201


def test_claim_refuses_bad_values(client: Client) -> None:
    client.post("c", 1)
    for body in ({"ttl": 5}, {"grace": 99999999}, {"limit": 0}, {"limit": 21}, {"ttl": "60"}):
        status, _reply = client.call("claim_create", {"queue_name": "c", **body})
        assert status == 400, body
    assert client.call("claim_update", {"queue_name": "c", "claim_id": "nope", "ttl": 60})[0] == 404


def test_message_delete_many_and_pop(client: Client) -> None:
    ids = client.post("dm", *range(6))
    assert client.call("message_delete_many", {"queue_name": "dm", "message_ids": ids[:2]}) == (
        204,
        {},
    )
    status, body = client.call("message_delete_many", {"queue_name": "dm", "pop": 2})
    assert status == 200
    assert [m["body"] for m in body["messages"]] == [2, 3]
    assert set(body["messages"][0]) >= {"id", "claim_id", "claim_count", "body"}
    assert client.call("message_delete_many", {"queue_name": "dm"})[0] == 400
    both = {"queue_name": "dm", "pop": 1, "message_ids": ids}
    assert client.call("message_delete_many", both)[0] == 400
    assert client.call("message_delete_many", {"queue_name": "dm", "pop": 21})[0] == 400
    left = client.call("message_list", {"queue_name": "dm", "echo": True})[1]["messages"]
    assert [m["body"] for m in left] == [4, 5]


def test_subscriptions_with_a_subscriber(client: Client) -> None:
    status, body = client.call(
        "subscription_create",
        {"queue_name": "sq", "subscriber": "http://hook.example/x", "ttl": 600},
    )
    assert status == 201
    assert body["message"] == "Subscription sq created."
    sub_id = body["subscription_id"]
    again = client.call(
        "subscription_create", {"queue_name": "sq", "subscriber": "http://hook.example/x"}
    )
    assert again == (201, {"subscription_id": sub_id, "message": "Subscription sq created."})
    status, body = client.call("subscription_get", {"queue_name": "sq", "subscription_id": sub_id})
    assert status == 200
    assert body["subscriber"] == "http://hook.example/x" and body["ttl"] == 600
    assert body["source"] == "sq" and body["confirmed"] is False
    status, body = client.call("subscription_list", {"queue_name": "sq"})
    assert [s["id"] for s in body["subscriptions"]] == [sub_id]
    assert client.call("subscription_delete", {"queue_name": "sq", "subscription_id": sub_id}) == (
        204,
        f"Subscription {sub_id} removed.",
    )
    status, _ = client.call("subscription_get", {"queue_name": "sq", "subscription_id": sub_id})
    assert status == 404


def test_subscription_create_refuses_bad_values(client: Client) -> None:
    for body in (
        {"subscriber": "ftp://x"},
        {"subscriber": "http://h.example", "ttl": 10},
        {"subscriber": "http://h.example", "options": []},
        {"ttl": 10},
    ):
        status, reply = client.call("subscription_create", {"queue_name": "bad", **body})
        assert status == 400, body
        assert reply["error"]
