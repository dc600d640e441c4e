"""Concurrency over HTTP, against several worker processes of ``sqlqueue serve``.

The storage suite shows the guarantees with threads in one process; here
they hold across gunicorn worker processes, through the wire protocol:
every posted message is consumed exactly once, no message is handed to two
live claims, and an observer paging with ``marker`` links sees every
message once, each producer's in order.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import ServerUrls
from tests.e2e.conftest import Server, start, stop
from tests.threads import run_threads

pytestmark = pytest.mark.slow

PRODUCERS = 6
CONSUMERS = 6
PER_PRODUCER = 30
WORKERS = 3


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def busy_server(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """A server with several worker processes on a fresh database."""
    backend = str(request.param)
    url = server_urls.url(backend, "e2e_http_concurrency")
    log = tmp_path_factory.mktemp("busy") / "server.log"
    running = start(url, log, backend, workers=WORKERS, SQLQUEUE_GC_INTERVAL="3600")
    try:
        yield running
    finally:
        stop(running.process)


def session() -> requests.Session:
    """A keep-alive client with its own Client-ID."""
    client = requests.Session()
    client.headers.update({"Client-ID": str(uuid.uuid4()), "X-Project-Id": "busy"})
    return client


def producer(base: str, number: int, posted: dict[str, Any]) -> Callable[[], None]:
    """Posts PER_PRODUCER messages in batches of 1 to 3; remembers id -> body."""

    def run() -> None:
        client, rng, seq = session(), random.Random(number), 0
        while seq < PER_PRODUCER:
            size = min(rng.randint(1, 3), PER_PRODUCER - seq)
            bodies = [{"p": number, "seq": seq + i} for i in range(size)]
            reply = client.post(base, json={"messages": [{"body": b} for b in bodies]})
            assert reply.status_code == 201, reply.text
            ids = [href.rsplit("/", 1)[-1] for href in reply.json()["resources"]]
            posted.update(zip(ids, bodies, strict=True))
            seq += size

    return run


def producers_then(done: threading.Event, targets: list[Callable[[], None]]) -> Callable[[], None]:
    """Run all producers, then set ``done``."""

    def run() -> None:
        run_threads(targets)
        done.set()

    return run


def test_exactly_once_across_worker_processes(busy_server: Server) -> None:
    queue = f"{busy_server.url}/v2/queues/work"
    posted: dict[str, Any] = {}
    handed: list[tuple[str, Any]] = []
    done = threading.Event()

    def consumer() -> None:
        client, idle = session(), 0
        while idle < 3:
            reply = client.post(f"{queue}/claims?limit=5", json={"ttl": 300, "grace": 60})
            if reply.status_code == 204:
                idle = idle + 1 if done.is_set() else 0
                time.sleep(0.02)
                continue
            assert reply.status_code == 201, reply.text
            for message in reply.json()["messages"]:
                handed.append((message["id"], message["body"]))
                gone = client.delete(f"{busy_server.url}{message['href']}")
                assert gone.status_code == 204, gone.text

    producers = [producer(f"{queue}/messages", n, posted) for n in range(PRODUCERS)]
    run_threads([producers_then(done, producers)] + [consumer] * CONSUMERS)
    counts = Counter(mid for mid, _ in handed)
    assert len(posted) == PRODUCERS * PER_PRODUCER
    assert [mid for mid, n in counts.items() if n > 1] == [], "handed to two live claims"
    assert set(counts) == set(posted), "a message was lost"
    assert all(body == posted[mid] for mid, body in handed), "an id named another message"
    stats = session().get(f"{queue}/stats").json()["messages"]
    assert stats["total"] == 0


def test_observer_pages_every_message_in_order(busy_server: Server) -> None:
    queue = f"{busy_server.url}/v2/queues/watched"
    posted: dict[str, Any] = {}
    seen: list[tuple[str, Any]] = []
    done = threading.Event()

    def observer() -> None:
        client, href = session(), "/v2/queues/watched/messages?echo=true&limit=20"
        while True:
            finished = done.is_set()
            page = client.get(f"{busy_server.url}{href}")
            assert page.status_code == 200, page.text
            items = page.json()["messages"]
            seen.extend((m["id"], m["body"]) for m in items)
            if items:
                href = page.json()["links"][0]["href"]
            elif finished:
                return
            else:
                time.sleep(0.01)

    producers = [producer(f"{queue}/messages", n, posted) for n in range(PRODUCERS)]
    run_threads([producers_then(done, producers), observer])
    assert Counter(mid for mid, _ in seen) == Counter(list(posted)), "skipped or repeated"
    for number in range(PRODUCERS):
        own = [body["seq"] for _, body in seen if body["p"] == number]
        assert own == list(range(PER_PRODUCER)), f"producer {number} lost its order"
