"""Long-poll across processes: two ``sqlqueue serve`` on one database.

A claim waits on server A; the message is posted through server B, so only
the database (NOTIFY on PostgreSQL, the shared poll on MySQL and SQLite)
can wake it.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ServerUrls
from tests.e2e.conftest import HEADERS, Server, command, start, stop

pytestmark = pytest.mark.slow

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
CLAIM = {"ttl": 60, "grace": 60}


@contextmanager
def two_servers(url: str, logs: Path, backend: str) -> Iterator[tuple[Server, Server]]:
    """Two ``sqlqueue serve`` on the database at ``url``, stopped afterwards."""
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


@pytest.fixture(scope="module", params=BACKENDS)
def pair(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, Server]]:
    backend = str(request.param)
    url = server_urls.url(backend, "e2e_longpoll")
    with two_servers(url, tmp_path_factory.mktemp("longpoll"), backend) as servers:
        yield servers


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


@pytest.fixture(scope="module", params=BACKENDS)
def pooled(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, Server]]:
    """Two ``sqlqueue serve`` with a pool registered (new queues go to the pool)."""
    backend = str(request.param)
    catalogue = server_urls.url(backend, "e2e_longpoll_catalogue")
    pool = server_urls.url(backend, "e2e_longpoll_pool")
    add = [*command(), "pool", "add", "p1", pool, "--database-url", catalogue]
    added = subprocess.run(add, capture_output=True, text=True, timeout=60, check=False)
    assert added.returncode == 0, added.stderr
    with two_servers(catalogue, tmp_path_factory.mktemp("longpoll_pooled"), backend) as servers:
        yield servers


@pytest.mark.parametrize("poster", ["same", "other"], ids=["same-server", "other-server"])
@pytest.mark.parametrize("create_first", [False, True], ids=["post-creates", "put-creates"])
@pytest.mark.parametrize("how", ["claim", "listing"])
def test_a_wait_on_a_queue_not_placed_yet_wakes_on_the_post(
    pooled: tuple[Server, Server], how: str, create_first: bool, poster: str
) -> None:
    queue = f"lpnew-{time.monotonic_ns()}"
    url = f"{pooled[0].url}/v2/queues/{queue}"
    posting = url if poster == "same" else f"{pooled[1].url}/v2/queues/{queue}"
    answer: dict[str, Any] = {}

    def wait() -> None:
        if how == "claim":
            got = requests.post(f"{url}/claims?wait=6", json=CLAIM, headers=HEADERS, timeout=30)
            bodies = [m["body"] for m in got.json()["messages"]] if got.status_code == 201 else []
        else:
            listing = {**HEADERS, "Client-ID": "1" * 32}  # not the poster: sees its messages
            got = requests.get(f"{url}/messages?wait=6", headers=listing, timeout=30)
            bodies = [m["body"] for m in got.json()["messages"]] if got.status_code == 200 else []
        answer.update(status=got.status_code, bodies=bodies, at=time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1.0)  # waiting by now, on a queue that is on no pool yet
    if create_first:
        assert requests.put(posting, headers=HEADERS, timeout=5).status_code == 201
    posted = requests.post(
        f"{posting}/messages",
        json={"messages": [{"body": "wake up", "ttl": 300}]},
        headers=HEADERS,
        timeout=5,
    )
    posted_at = time.monotonic()
    assert posted.status_code == 201
    waiter.join(timeout=30)
    assert answer["bodies"] == ["wake up"]
    assert answer["at"] - posted_at < 2.5  # woken by the post, not by the wait running out
