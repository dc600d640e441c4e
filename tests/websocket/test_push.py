"""Socket subscriptions: messages posted by anyone are pushed as Zaqar pushes them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgpack
import websocket

from tests.websocket.conftest import PROJECT, Client, RunningServer, stop_server

WAIT = 10.0


def _subscribe(client: Client, queue: str, **fields: Any) -> str:
    status, body = client.call("subscription_create", {"queue_name": queue, **fields})
    assert status == 201, body
    assert body["message"] == f"Subscription {queue} created."
    return str(body["subscription_id"])


def _push(client: Client) -> Any:
    frame = client.recv(WAIT)
    assert "request" not in frame, f"expected a push, got a reply: {frame}"
    return frame


def _subscriptions(client: Client, queue: str) -> list[dict[str, Any]]:
    status, body = client.call("subscription_list", {"queue_name": queue})
    assert status == 200
    return list(body["subscriptions"])


def test_messages_posted_elsewhere_are_pushed(server: RunningServer, client: Client) -> None:
    sub_id = _subscribe(client, "events", ttl=3600)
    producer = server.client()
    try:
        producer.post("events", {"n": 1}, "two")
        assert _push(client) == {
            "ttl": 3600,
            "body": {"n": 1},
            "Message_Type": "Notification",
            "queue_name": "events",
        }
        assert _push(client)["body"] == "two"
        found = _subscriptions(producer, "events")
        assert [s["id"] for s in found] == [sub_id]
        assert found[0]["subscriber"].startswith("websocket://")
    finally:
        producer.close()


def test_only_messages_posted_after_subscribing_are_pushed(
    server: RunningServer, client: Client
) -> None:
    client.post("later", "before")
    _subscribe(client, "later")
    client.post("later", "after")  # a socket also hears its own posts, as in Zaqar
    assert _push(client)["body"] == "after"
    client.conn.settimeout(0.5)
    try:
        extra = client.conn.recv()
    except websocket.WebSocketTimeoutException:
        extra = None
    assert extra is None


def test_many_sockets_on_one_queue_each_get_every_message(server: RunningServer) -> None:
    listeners = [server.client() for _ in range(3)]
    producer = server.client()
    try:
        for listener in listeners:
            _subscribe(listener, "fan")
        producer.post("fan", *range(5))
        for listener in listeners:
            assert [_push(listener)["body"] for _ in range(5)] == list(range(5))
    finally:
        for conn in [*listeners, producer]:
            conn.close()


def test_subscription_ends_with_the_socket(server: RunningServer) -> None:
    listener, observer = server.client(), server.client()
    try:
        _subscribe(listener, "gone")
        assert len(_subscriptions(observer, "gone")) == 1
        listener.close()
        deadline = time.monotonic() + WAIT
        while _subscriptions(observer, "gone") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _subscriptions(observer, "gone") == []
        observer.post("gone", 1)  # nobody left to push to; the server carries on
        assert observer.call("queue_get_stats", {"queue_name": "gone"})[0] == 200
    finally:
        observer.close()


def test_subscription_delete_stops_pushes(server: RunningServer, client: Client) -> None:
    sub_id = _subscribe(client, "stop")
    client.post("stop", 1)
    assert _push(client)["body"] == 1
    status, _ = client.call(
        "subscription_delete", {"queue_name": "stop", "subscription_id": sub_id}
    )
    assert status == 204
    client.post("stop", 2)
    time.sleep(0.3)  # several poll intervals
    assert client.call("queue_list")[0] == 200  # the next frame is this reply, not a push


def test_binary_subscription_gets_messagepack_pushes(client: Client) -> None:
    frame = {
        "action": "subscription_create",
        "headers": client.headers,
        "body": {"queue_name": "bin"},
    }
    client.conn.send_binary(msgpack.packb(frame))
    assert msgpack.unpackb(client.conn.recv_data()[1], raw=False)["headers"]["status"] == 201
    client.post("bin", {"k": "v"})
    opcode, data = client.conn.recv_data()
    assert opcode == websocket.ABNF.OPCODE_BINARY
    assert msgpack.unpackb(data, raw=False)["body"] == {"k": "v"}


def test_one_shared_poll_per_subscribed_queue(server: RunningServer) -> None:
    """Five sockets on two queues: two polls; the poll of a queue ends with its last socket."""
    on_a = [server.client() for _ in range(3)]
    on_b = [server.client() for _ in range(2)]
    try:
        for conn in on_a:
            _subscribe(conn, "a")
        for conn in on_b:
            _subscribe(conn, "b")
        assert server.server.watched_queues == 2
        for conn in on_a:
            conn.close()
        deadline = time.monotonic() + WAIT
        while server.server.watched_queues != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.server.watched_queues == 1
        on_b[0].post("b", "still pushed")
        assert [_push(conn)["body"] for conn in on_b] == ["still pushed"] * 2
    finally:
        for conn in on_b:
            conn.close()


def test_stopping_the_server_closes_sockets_and_deletes_their_subscriptions(
    start_ws: Callable[..., RunningServer],
) -> None:
    server = start_ws()
    listener = server.client()
    _subscribe(listener, "bye")
    where = server.store.at(PROJECT, "bye")
    assert len(where.subscriptions.list(PROJECT, "bye").items) == 1
    stop_server(server)
    assert not server.thread.is_alive()
    opcode, data = listener.conn.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1001  # going away
    assert where.subscriptions.list(PROJECT, "bye").items == []
    listener.conn.shutdown()
