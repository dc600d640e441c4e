"""Long-poll across processes: two ``sqlqueue serve`` on one database.

A claim waits on server A; the message is posted through server B, so only
the database (NOTIFY on PostgreSQL, the shared poll on MySQL and SQLite)
can wake it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import ServerUrls
from tests.e2e.conftest import HEADERS, Server, start, stop

pytestmark = pytest.mark.slow

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
CLAIM = {"ttl": 60, "grace": 60}


@pytest.fixture(scope="module", params=BACKENDS)
def pair(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, Server]]:
    backend = str(request.param)
    url = server_urls.url(backend, "e2e_longpoll")
    logs = tmp_path_factory.mktemp("longpoll")
    first = start(url, logs / "a.log", backend)
    try:
        second = start(url, logs / "b.log", backend)
    except BaseException:
        stop(first.process)
        raise
    try:
        yield first, second
    finally:
        stop(first.process)
        stop(second.process)


def test_a_post_to_one_server_wakes_a_claim_waiting_on_another(
    pair: tuple[Server, Server],
) -> None:
    waiting, posting = pair
    queue = f"lp-{time.monotonic_ns()}"
    requests.put(f"{waiting.url}/v2/queues/{queue}", headers=HEADERS, timeout=5)
    answer: dict[str, Any] = {}

    def wait() -> None:
        got = requests.post(
            f"{waiting.url}/v2/queues/{queue}/claims?wait=15",
            json=CLAIM,
            headers=HEADERS,
            timeout=30,
        )
        answer.update(status=got.status_code, body=got.json(), at=time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1.0)  # the claim is waiting by now
    posted = requests.post(
        f"{posting.url}/v2/queues/{queue}/messages",
        json={"messages": [{"body": "wake up", "ttl": 300}]},
        headers=HEADERS,
        timeout=5,
    )
    posted_at = time.monotonic()
    assert posted.status_code == 201
    waiter.join(timeout=30)
    assert answer["status"] == 201
    assert [m["body"] for m in answer["body"]["messages"]] == ["wake up"]
    assert answer["at"] - posted_at < 2.0  # woken, not timed out (bench/ measures p99)


def test_a_client_that_leaves_frees_its_waiting_thread(
    server_urls: ServerUrls, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = server_urls.url("sqlite", "e2e_longpoll_leave")
    log = tmp_path_factory.mktemp("leave") / "server.log"
    server = start(url, log, "sqlite", SQLQUEUE_LONG_POLLS="2")
    try:
        host, port = server.url.removeprefix("http://").split(":")
        body = '{"ttl": 60, "grace": 60}'
        head = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
        for i in range(2):  # every long-poll thread of the worker, then gone
            with socket.create_connection((host, int(port))) as sock:
                request = f"POST /v2/queues/gone{i}/claims?wait=20 HTTP/1.1\r\nHost: t\r\n{head}"
                request += "Content-Type: application/json\r\n"
                sock.sendall(f"{request}Content-Length: {len(body)}\r\n\r\n{body}".encode())
                time.sleep(0.5)
        started = time.monotonic()
        got = requests.post(
            f"{server.url}/v2/queues/stays/claims?wait=1", json=CLAIM, headers=HEADERS, timeout=30
        )
        assert got.status_code == 204
        assert time.monotonic() - started < 5  # a thread was free: not queued behind 20 s waits
    finally:
        stop(server.process)
