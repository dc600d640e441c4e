"""Bad frames get a clear error frame and the socket stays usable; MessagePack in kind."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
import websocket

from tests.websocket.conftest import Client, RunningServer


def _still_serving(client: Client) -> None:
    assert client.call("queue_list")[0] == 200


@pytest.mark.parametrize(
    ("frame", "wording"),
    [
        ("not json", "Can't decode text (JSON) request"),
        ("[1, 2]", "Unexpected body type"),
        ('{"action": "queue_list", "headers": {}, "body": {"x": NaN}}', "Can't decode"),
        ('{"action": 5}', "action must be a string"),
        ('{"action": "queue_list", "headers": []}', "headers must be an object"),
        ("{" * 100 + "}" * 100, "Can't decode"),
    ],
)
def test_undecodable_frames(client: Client, frame: str, wording: str) -> None:
    client.conn.send(frame)
    reply = client.recv()
    assert reply["headers"] == {"status": 400}
    assert wording in reply["body"]["error"]
    assert reply["request"]["api"] == "v2"
    _still_serving(client)


def test_unknown_and_unsupported_actions(client: Client) -> None:
    assert client.call("queue_exists", {"queue_name": "q"})[1]["error"] == (
        "queue_exists is not a valid action"
    )
    for action in ("ping_node", "get_home_doc", "pool_list", "flavor_get"):
        status, body = client.call(action, {})
        assert status == 400
        assert body["error"] == f"{action} is not supported by sqlqueue."
    _still_serving(client)


@pytest.mark.parametrize(
    ("action", "body", "wording"),
    [
        ("queue_create", {}, "body.queue_name is required"),
        ("queue_create", {"queue_name": 5}, "body.queue_name must be of type string"),
        ("queue_list", {"limit": True}, "body.limit must be of type integer"),
        ("queue_list", {"limit": 0}, "limit must be from 1 to 20"),
        ("message_list", {"queue_name": "q", "limit": 21}, "limit must be from 1 to 20"),
        ("message_get", {"queue_name": "q"}, "body.message_id is required"),
        ("claim_get", {"queue_name": "q", "claim_id": ["x"]}, "must be of type string"),
        ("queue_list", "a string", "body must be an object"),
        ("message_get_many", {"queue_name": "q", "message_ids": [1]}, "list of at most"),
    ],
)
def test_schema_errors(client: Client, action: str, body: Any, wording: str) -> None:
    status, reply = client.call(action, body)
    assert status == 400
    assert wording in reply["error"]
    assert set(reply) == {"error", "exception", "title"}
    _still_serving(client)


@pytest.mark.parametrize(
    ("headers", "wording"),
    [
        ({"Client-ID": "3381af92-2b9e-11e3-b191-71861300734c"}, "X-Project-ID is required"),
        ({"X-Project-ID": "p"}, "Client-ID is required"),
        ({"X-Project-ID": "", "Client-ID": "3381af92-2b9e-11e3-b191-71861300734c"}, "Empty"),
        ({"X-Project-ID": "p", "Client-ID": "short"}, "UUID"),
    ],
)
def test_header_errors(client: Client, headers: dict[str, str], wording: str) -> None:
    status, reply = client.call("queue_list", headers=headers)
    assert status == 400
    assert wording in reply["error"]
    _still_serving(client)


def test_header_names_are_case_insensitive(client: Client) -> None:
    headers = {"client-id": client.headers["Client-ID"], "X-Project-Id": "ws-project"}
    assert client.call("queue_list", headers=headers) == (200, {"queues": []})


def test_messagepack_requests_get_messagepack_replies(client: Client) -> None:
    frame = {
        "action": "message_post",
        "headers": client.headers,
        "body": {"queue_name": "mp", "messages": [{"body": {"n": 1, "s": "é"}}]},
    }
    client.conn.send_binary(msgpack.packb(frame))
    opcode, data = client.conn.recv_data()
    assert opcode == websocket.ABNF.OPCODE_BINARY
    reply = msgpack.unpackb(data, raw=False)
    assert reply["headers"] == {"status": 201}
    listing = client.call("message_list", {"queue_name": "mp", "echo": True})[1]
    assert listing["messages"][0]["body"] == {"n": 1, "s": "é"}


def test_messagepack_that_is_not_json_is_refused(client: Client) -> None:
    frame = {
        "action": "message_post",
        "headers": client.headers,
        "body": {"queue_name": "mp", "messages": [{"body": b"\x00raw bytes"}]},
    }
    client.conn.send_binary(msgpack.packb(frame, use_bin_type=True))
    reply = client.recv()
    assert reply["headers"] == {"status": 400}
    assert "Can't decode binary (MessagePack) request" in reply["body"]["error"]
    client.conn.send_binary(b"\xc1 not msgpack")
    assert client.recv()["headers"] == {"status": 400}
    _still_serving(client)


def test_replies_come_in_request_order(client: Client) -> None:
    for n in range(20):
        client.send("message_post", {"queue_name": "order", "messages": [{"body": n}]})
    statuses = [client.reply()[0] for _ in range(20)]
    assert statuses == [201] * 20
    listing = client.call("message_list", {"queue_name": "order", "echo": True, "limit": 20})
    assert [m["body"] for m in listing[1]["messages"]] == list(range(20))


def test_any_path_is_accepted(server: RunningServer) -> None:
    conn = websocket.create_connection(server.url + "v2/anything", timeout=10)
    try:
        headers = {"Client-ID": "3381af92-2b9e-11e3-b191-71861300734c", "X-Project-ID": "p"}
        conn.send(json.dumps({"action": "queue_list", "headers": headers}))
        assert json.loads(conn.recv())["headers"] == {"status": 200}
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("headers", "queue", "title", "description"),
    [
        (
            {"X-Project-ID": "", "Client-ID": "3381af92-2b9e-11e3-b191-71861300734c"},
            "q",
            "Invalid header",
            "Empty project header not allowed",
        ),
        (
            {"X-Project-ID": "p" * 257, "Client-ID": "3381af92-2b9e-11e3-b191-71861300734c"},
            "q",
            "Invalid queue identification",
            "The format of the submitted queue name or project id is not valid.",
        ),
        (
            {"X-Project-ID": "p", "Client-ID": "short"},
            "q",
            "Invalid Client-ID",
            "Malformed hexadecimal UUID.",
        ),
        (
            {"X-Project-ID": "p", "Client-ID": "3381af92-2b9e-11e3-b191-71861300734c"},
            "bad!name",
            "Invalid queue identification",
            "The format of the submitted queue name or project id is not valid.",
        ),
    ],
)
def test_header_and_name_errors_read_as_over_http(
    client: Client, headers: dict[str, str], queue: str, title: str, description: str
) -> None:
    """The websocket API words these errors exactly as the HTTP API (Zaqar's titles)."""
    status, reply = client.call("queue_get_stats", {"queue_name": queue}, headers=headers)
    assert (status, reply["title"], reply["error"]) == (400, title, description)
