"""Limits: frame size, connections per process, clients that stop reading."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest
import websocket

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.engine import make_engine
from tests.websocket.conftest import PROJECT, Client, RunningServer, start_server, stop_server


def test_a_frame_over_the_body_limits_gets_an_error_frame(client: Client) -> None:
    huge = "x" * (262144 + 20000)
    client.send("message_post", {"queue_name": "big", "messages": [{"body": huge}]})
    reply = client.recv()
    assert reply["headers"] == {"status": 400}
    assert reply["body"]["error"].startswith("Frame is too large. Max size: ")
    assert reply["request"]["action"] is None
    assert client.call("queue_get_stats", {"queue_name": "big"})[0] == 404


def test_a_frame_over_the_hard_cap_closes_with_1009(
    start_ws: Callable[..., RunningServer],
) -> None:
    server = start_ws(websocket_max_frame_size=100000)
    client = server.client()
    client.conn.send("x" * 150000)
    opcode, data = client.conn.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1009  # "message too big", with a reason
    client.conn.shutdown()
    other = server.client()
    assert other.call("queue_list")[0] == 200  # the server carries on
    other.close()


def test_connections_per_process_are_limited(start_ws: Callable[..., RunningServer]) -> None:
    server = start_ws(websocket_max_connections=2)
    first, second = server.client(), server.client()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        server.client()
    assert refused.value.status_code == 503
    first.close()
    deadline = time.monotonic() + 5
    while True:  # the closed slot frees up
        try:
            third = server.client()
            break
        except websocket.WebSocketBadStatusException:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert third.call("queue_list")[0] == 200
    second.close()
    third.close()


def test_a_client_that_stops_reading_is_cut_off(
    start_ws: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    """Pushes pile up for a subscriber that never reads: the server closes it (1008)
    once its outbox (64 KiB here) is full, instead of buffering without bound."""
    caplog.set_level(logging.WARNING, "sqlqueue.transport.websocket")
    server = start_ws(websocket_send_buffer=65536)
    lazy = websocket.create_connection(
        server.url, timeout=10, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
    )
    headers = {"Client-ID": "3381af92-2b9e-11e3-b191-71861300734c", "X-Project-ID": PROJECT}
    lazy.send(
        json.dumps(
            {"action": "subscription_create", "headers": headers, "body": {"queue_name": "flood"}}
        )
    )
    assert json.loads(lazy.recv())["headers"]["status"] == 201
    where = server.store.at(PROJECT, "flood")
    chunk = "y" * 50000
    posted = 0
    deadline = time.monotonic() + 60
    while "send queue full" not in caplog.text:  # keep posting until the server gives up
        assert time.monotonic() < deadline, "the non-reading client was never cut off"
        batch = [NewMessage(body=chunk) for _ in range(10)]
        where.messages.post(PROJECT, "flood", batch, headers["Client-ID"])
        posted += 10
        time.sleep(0.05)
    # the connection is gone: draining it ends with the close (or a reset), not more pushes
    received, closed = 0, threading.Event()
    lazy.settimeout(10)
    try:
        while True:
            opcode, data = lazy.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                closed.set()
                assert int.from_bytes(data[:2], "big") == 1008
                assert b"not reading" in data
                break
            received += 1
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        closed.set()
    assert closed.is_set()
    assert received < posted
    lazy.shutdown()
    other = server.client()
    assert other.call("queue_list")[0] == 200
    other.close()


@pytest.mark.sqlite
def test_storage_trouble_is_a_503_frame_and_the_socket_stays() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    server = start_server(engine)
    client = server.client()
    try:
        for action, body in (
            ("queue_list", None),
            ("message_post", {"queue_name": "q", "messages": [{"body": 1}]}),
            ("subscription_create", {"queue_name": "q"}),
        ):
            status, reply = client.call(action, body)
            assert status == 503, (action, reply)
            assert reply["title"] == "Service temporarily unavailable"
            assert "try again" in reply["error"]
    finally:
        client.close()
        stop_server(server)
        engine.dispose()


def test_a_client_that_does_not_answer_pings_is_closed(
    start_ws: Callable[..., RunningServer],
) -> None:
    server = start_ws(websocket_ping_interval=0.2, websocket_ping_timeout=0.5)
    silent = server.client()  # websocket-client answers pings only while reading
    time.sleep(2.0)
    silent.conn.settimeout(10)
    codes = []
    try:
        while True:
            opcode, data = silent.conn.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                codes.append(int.from_bytes(data[:2], "big"))
                break
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        codes.append(-1)  # aborted after the close handshake timed out
    assert codes and codes[0] in (1011, -1)  # 1011: keepalive ping timeout
    silent.conn.shutdown()
    answering = server.client()  # one that reads keeps its connection
    for _ in range(20):  # it reads (and so answers pings) every 50 ms
        time.sleep(0.05)
        assert answering.call("queue_list")[0] == 200
    answering.close()
