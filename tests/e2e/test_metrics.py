"""``GET /metrics`` from a real 2-worker ``sqlqueue serve`` after known traffic.

Each request goes on a connection of its own, so both workers answer some
(the access log names the worker's pid); the counters a scrape shows are
the sums over both, whichever worker answers the scrape. The exposition is
read with ``prometheus_client.parser``, as Prometheus would read it.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerUrls
from tests.e2e.conftest import HEADERS, Server, free_port, start, stop

pytestmark = pytest.mark.slow

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
MESSAGES = "/v2/queues/{queue_name}/messages"
TEMPLATES = {
    "/v2/ping",
    "/v2/queues/{queue_name}",
    MESSAGES,
    "/v2/queues/{queue_name}/messages/{message_id}",
    "/v2/queues/{queue_name}/claims",
    "/v2/queues/{queue_name}/stats",
    "/metrics",
    "front",
}
TOO_LARGE = {"method": "POST", "route": "front", "status": "413"}
ACCESS = re.compile(r"\[(\d+)\] INFO sqlqueue\.access")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> tuple[Samples, str]:
    """Every sample of one scrape by (name, sorted labels), and the raw text."""
    answer = requests.get(f"{url}/metrics", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, answer.text


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent, as a counter never incremented)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def worker_pids(server: Server) -> set[str]:
    """The pids of the worker processes that answered requests so far."""
    return set(ACCESS.findall(server.output()))


class Traffic:
    """Requests on fresh connections, counted as the test sends them."""

    def __init__(self, server: Server) -> None:
        self.url = server.url
        self.posts = 0
        self.posted = 0

    def post(self, queue: str, count: int) -> list[str]:
        body = {"messages": [{"body": {"n": n}, "ttl": 600} for n in range(count)]}
        answer = requests.post(
            f"{self.url}/v2/queues/{queue}/messages", headers=HEADERS, json=body, timeout=30
        )
        assert answer.status_code == 201, answer.text
        self.posts += 1
        self.posted += count
        return [href.rsplit("/", 1)[1] for href in answer.json()["resources"]]


@pytest.fixture(scope="module", params=BACKENDS)
def admin(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """An admin server (which serves /metrics by default) with 2 workers."""
    backend = str(request.param)
    url = server_urls.url(backend, "e2e_metrics")
    log = tmp_path_factory.mktemp("metrics") / "server.log"
    running = start(url, log, backend, workers=2, SQLQUEUE_ADMIN_MODE="true")
    try:
        yield running
    finally:
        stop(running.process)


def test_counters_sum_over_the_workers_and_gauges_match_the_stats(admin: Server) -> None:
    traffic = Traffic(admin)
    for n in range(100):  # 100 queue names: no new label values
        traffic.post(f"q{n:03d}", 1)
    ids = traffic.post("deep", 5) + traffic.post("deep", 5) + traffic.post("deep", 5)
    while len(worker_pids(admin)) < 2 and traffic.posts < 300:
        traffic.post("spread", 1)
    assert len(worker_pids(admin)) == 2, "one worker answered everything"
    claim = requests.post(
        f"{admin.url}/v2/queues/deep/claims?limit=4",
        headers=HEADERS,
        json={"ttl": 300, "grace": 60},
        timeout=30,
    )
    assert claim.status_code == 201, claim.text
    held = [(m["id"], m["href"].rsplit("=", 1)[1]) for m in claim.json()["messages"]]
    for message_id, claim_id in held[:2]:
        gone = requests.delete(
            f"{admin.url}/v2/queues/deep/messages/{message_id}?claim_id={claim_id}",
            headers=HEADERS,
            timeout=30,
        )
        assert gone.status_code == 204, gone.text
    assert {m for m, _ in held} <= set(ids)

    samples, text = scrape(admin.url)
    assert value(samples, "sqlqueue_messages_posted_total") == traffic.posted
    assert value(samples, "sqlqueue_messages_claimed_total") == 4
    assert value(samples, "sqlqueue_claims_created_total") == 1
    assert value(samples, "sqlqueue_messages_deleted_total") == 2
    ok = {"method": "POST", "route": MESSAGES, "status": "201"}
    assert value(samples, "sqlqueue_http_requests_total", **ok) == traffic.posts
    latency = {"method": "POST", "route": MESSAGES}
    assert value(samples, "sqlqueue_http_request_duration_seconds_count", **latency) == (
        traffic.posts
    )
    routes = {dict(labels).get("route") for name, labels in samples if "http" in name}
    assert routes - {None} <= TEMPLATES
    assert "/v2/queues/q0" not in text and "/v2/queues/deep" not in text
    assert value(samples, "sqlqueue_catalogue_up") == 1
    assert value(samples, "sqlqueue_scrape_truncated") == 0

    shown = {
        dict(labels)["queue"]
        for name, labels in samples
        if name == "sqlqueue_queue_messages" and dict(labels)["project"] == HEADERS["X-Project-Id"]
    }
    assert len(shown) == 50  # metrics_queues: the deepest first, then by name
    assert {"deep", "q000"} <= shown and "q099" not in shown
    for queue in ("deep", "q000", "spread"):
        stats = requests.get(f"{admin.url}/v2/queues/{queue}/stats", headers=HEADERS, timeout=30)
        counts = stats.json()["messages"]
        where = {"project": HEADERS["X-Project-Id"], "queue": queue}
        assert value(samples, "sqlqueue_queue_messages", **where, state="free") == counts["free"]
        assert (
            value(samples, "sqlqueue_queue_messages", **where, state="claimed")
            == (counts["claimed"])
        )
        age = value(samples, "sqlqueue_queue_oldest_message_age_seconds", **where)
        assert abs(age - counts.get("oldest", {"age": 0})["age"]) <= 2
    deep = {"project": HEADERS["X-Project-Id"], "queue": "deep"}
    assert value(samples, "sqlqueue_queue_messages", **deep, state="claimed") == 2


def test_every_scrape_shows_the_same_sums_whichever_worker_answers(admin: Server) -> None:
    seen = {value(scrape(admin.url)[0], "sqlqueue_messages_posted_total") for _ in range(8)}
    assert len(seen) == 1 and seen.pop() > 0


def test_requests_the_front_refuses_are_counted_too(admin: Server) -> None:
    before = value(scrape(admin.url)[0], "sqlqueue_http_requests_total", **TOO_LARGE)
    host, port = admin.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v2/queues/big/messages HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 2000000\r\nContent-Type: application/json\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 413")
    after = value(scrape(admin.url)[0], "sqlqueue_http_requests_total", **TOO_LARGE)
    assert after == before + 1


@pytest.mark.sqlite
def test_a_separate_metrics_port_and_a_reused_metrics_directory(tmp_path: Path) -> None:
    """``metrics_endpoint = off`` hides /metrics from the API; ``metrics_port`` serves it;
    a configured ``metrics_dir`` is emptied of a previous run's files at start."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left over by an earlier run")
    port = free_port()
    running = start(
        f"sqlite:///{tmp_path}/q.db",
        tmp_path / "server.log",
        workers=2,
        SQLQUEUE_METRICS_ENDPOINT="off",
        SQLQUEUE_METRICS_PORT=str(port),
        SQLQUEUE_METRICS_DIR=str(directory),
    )
    try:
        assert f"sqlqueue: metrics on http://127.0.0.1:{port}/metrics" in running.output()
        assert requests.get(f"{running.url}/metrics", timeout=10).status_code == 404
        traffic = Traffic(running)
        for _ in range(6):
            traffic.post("jobs", 2)
        samples, _ = scrape(f"http://127.0.0.1:{port}")
        assert value(samples, "sqlqueue_messages_posted_total") == 12
        where = {"project": HEADERS["X-Project-Id"], "queue": "jobs"}
        assert value(samples, "sqlqueue_queue_messages", **where, state="free") == 12
        assert not (directory / "counter_1.db").exists()
    finally:
        stop(running.process)
    assert directory.exists()  # configured: kept for the operator
