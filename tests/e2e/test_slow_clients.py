"""Slow and idle clients cannot starve ``sqlqueue serve`` (issue 8, section 1).

A slowloris (200 connections that never finish their request head) held
every thread of the former gunicorn gthread server: normal requests got no
answer at all. granian reads request heads outside Python, so they only
cost a connection slot; the timeouts and the connection cap bound even that.
"""

from __future__ import annotations

import http.client
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import ServerUrls
from tests.e2e.conftest import start, stop
from tests.e2e.front_door import (
    ALL_BACKENDS,
    JSON_HEADERS,
    SLOW_BODY,
    SLOW_HEAD,
    SlowClients,
    address,
    backend_server,
    percentile,
    timed_request,
)

pytestmark = pytest.mark.slow

SLOW_SOCKETS = 200
NORMAL_REQUESTS = 40
MAX_FAILURES = 3
P99_BOUND = 1.5
"""Seconds: generous for a loaded 2-core machine (about 10 ms when quiet);
the old server never answered (every request timed out after 5 s)."""


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_normal_requests_served_while_200_slow_clients_hold_connections(
    backend: str, server_urls: ServerUrls, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """100 clients trickle a request head, 100 a request body."""
    _normal_requests_among_slow_clients(backend, server_urls, tmp_path_factory)


def _normal_requests_among_slow_clients(
    backend: str, server_urls: ServerUrls, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with backend_server(backend, server_urls, tmp_path_factory, "e2e_slowloris") as server:
        where = address(server)
        slow_heads = SlowClients(where, SLOW_SOCKETS // 2, SLOW_HEAD)
        slow_bodies = SlowClients(where, SLOW_SOCKETS // 2, SLOW_BODY)
        try:
            time.sleep(1.0)  # every slow socket is accepted and trickling
            results: list[tuple[int, float]] = []
            for number in range(NORMAL_REQUESTS):
                if number % 2:
                    results.append(timed_request(where, "GET", "/v2/queues/door/stats"))
                else:
                    body = b'{"messages": [{"body": %d}]}' % number
                    results.append(timed_request(where, "POST", "/v2/queues/door/messages", body))
                if sum(1 for status, _ in results if status == 0) >= MAX_FAILURES:
                    break  # starved: no need to wait out every timeout
            still_open = len(slow_heads.sockets) + len(slow_bodies.sockets)
        finally:
            slow_heads.close()
            slow_bodies.close()
    statuses = [status for status, _ in results]
    assert statuses == [201, 200] * (NORMAL_REQUESTS // 2)
    assert percentile([seconds for _, seconds in results], 0.99) < P99_BOUND
    assert still_open == SLOW_SOCKETS  # the slow clients were really there throughout


@pytest.mark.sqlite
def test_timeouts_and_connection_cap_bound_what_a_client_holds(tmp_path: Path) -> None:
    """1 s timers end slow heads, slow bodies and idle connections; past the cap, new ones wait."""
    server = start(
        f"sqlite:///{tmp_path}/q.db",
        tmp_path / "server.log",
        workers=1,
        SQLQUEUE_HEADER_TIMEOUT="1",
        SQLQUEUE_KEEPALIVE_TIMEOUT="1",
        SQLQUEUE_BODY_TIMEOUT="1",
        SQLQUEUE_MAX_CONNECTIONS="4",
    )
    try:
        where = address(server)
        slow = socket.create_connection(where, timeout=10)
        slow.sendall(SLOW_HEAD)
        started = time.monotonic()
        assert slow.recv(100) == b""  # closed by the server, no answer
        assert 0.5 < time.monotonic() - started < 5

        slow = socket.create_connection(where, timeout=10)
        slow.sendall(SLOW_BODY)
        started = time.monotonic()
        answer = slow.recv(1000)
        assert answer.startswith(b"HTTP/1.1 408 ") and b'"title": "Request timeout"' in answer
        assert 0.5 < time.monotonic() - started < 5

        huge = socket.create_connection(where, timeout=10)  # refused before any body byte
        huge.sendall(SLOW_BODY.replace(b"Content-Length: 60000", b"Content-Length: 2000000"))
        assert huge.recv(1000).startswith(b"HTTP/1.1 413 ")

        idle = []
        for _ in range(4):  # fill the cap with idle keep-alive connections
            conn = http.client.HTTPConnection(*where, timeout=10)
            conn.request("GET", "/v2/ping", headers=JSON_HEADERS)
            assert conn.getresponse().status == 204
            idle.append(conn)
        status, seconds = timed_request(where, "GET", "/v2/ping", timeout=10)
        assert status == 204  # answered once an idle connection timed out
        assert 0.3 < seconds < 5
        for conn in idle:
            conn.close()
    finally:
        stop(server.process)
