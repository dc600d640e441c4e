"""Notification benchmark: delivery throughput, and what the outbox costs a post.

1. ``deliveries/s``: messages are posted to a queue with 1 and with 10
   webhook subscribers (outbox filled first, untimed), then one delivery
   worker with its default pool (``notify_threads`` 8, ``notify_per_subscription``
   4) sends them to a threaded ``http.server`` receiver on loopback; timed
   from start until every request arrived and every row is recorded
   delivered. The floor is the same number of POSTs of the same bodies sent by
   the same number of threads straight with urllib3 (no database), in the same
   run: ``ratio`` = sqlqueue / floor.
2. ``post x1``: one message per ``MessageController.post`` call to a queue
   with one webhook subscriber vs a queue with none (the outbox
   ``INSERT ... SELECT`` is the only extra work on the request; no worker
   runs). Calls alternate between the queues; medians of ``posts x rounds``
   calls each. Then the same over HTTP against a real ``sqlqueue serve``
   (one worker process, its delivery worker on and delivering to the
   receiver): what a producer sees. Target: ratio <= 1.2.

Usage::

    python bench/notify_bench.py [--backends sqlite,postgresql,mysql]
                                 [--messages N] [--posts N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.databases import DEFAULT_URLS, fresh_database

from sqlqueue.config import Settings
from sqlqueue.domain.models import NewMessage
from sqlqueue.notify import service
from sqlqueue.storage.base import SingleStore
from sqlqueue.storage.sql.driver import SqlDataDriver

PROJECT = "bench"
CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"
BODY = {"payload": "x" * 64}


class Receiver:
    """Counts POSTs; answers 200 at once."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait(self, count: int, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.count} of {count} deliveries arrived")
            time.sleep(0.005)


def _settings() -> Settings:
    return Settings.from_mapping(
        {"notify_allow_networks": "127.0.0.1/32", "notify_poll_interval": 0.05}
    )


def deliveries_per_second(
    driver: SqlDataDriver, receiver: Receiver, subscribers: int, messages: int
) -> float:
    """Fill the outbox (untimed), then time one worker draining it."""
    queue = f"d{subscribers}-{uuid.uuid4().hex[:8]}"
    for n in range(subscribers):
        driver.subscriptions.create(PROJECT, queue, receiver.url(f"/{queue}/{n}"), 3600, {})
    for start in range(0, messages, 100):
        batch = [NewMessage(BODY, ttl=3600) for _ in range(min(100, messages - start))]
        driver.messages.post(PROJECT, queue, batch, CLIENT)
    total = messages * subscribers
    base = receiver.count
    worker = service.notifier(_settings(), SingleStore(driver))
    begun = time.perf_counter()
    worker.start()
    receiver.wait(base + total)
    subs = driver.subscriptions.list(PROJECT, queue, limit=subscribers).items
    while (
        sum(driver.subscriptions.delivery_stats(PROJECT, queue, s.id).delivered for s in subs)
        < total
    ):
        time.sleep(0.005)
    elapsed = time.perf_counter() - begun
    worker.stop()
    return total / elapsed


def floor_per_second(receiver: Receiver, total: int, threads: int = 8) -> float:
    """The same POSTs with urllib3 from ``threads`` threads, no database."""
    pool = urllib3.PoolManager(maxsize=threads, retries=False)
    body = (
        b'{"ttl": 3600, "body": {"payload": "'
        + b"x" * 64
        + b'"}, "Message_Type": "Notification", "queue_name": "q"}'
    )
    url = receiver.url("/floor")
    headers = {"Content-Type": "application/json"}

    def send(_: int) -> None:
        pool.request("POST", url, body=body, headers=headers, timeout=10.0).close()

    begun = time.perf_counter()
    with ThreadPoolExecutor(threads) as executor:
        list(executor.map(send, range(total)))
    return total / (time.perf_counter() - begun)


def post_once(driver: SqlDataDriver, queue: str) -> float:
    """Seconds one ``post`` of one message takes."""
    begun = time.perf_counter()
    driver.messages.post(PROJECT, queue, [NewMessage(BODY, ttl=3600)], CLIENT)
    return time.perf_counter() - begun


def post_cost(
    driver: SqlDataDriver, receiver: Receiver, posts: int, rounds: int
) -> tuple[float, float]:
    """Median seconds per post x1 without and with one webhook subscriber.

    The two queues alternate call by call (which goes first alternates too),
    so a burst of load on the shared machine hits both sides alike.
    """
    plain, watched = f"plain-{uuid.uuid4().hex[:6]}", f"watched-{uuid.uuid4().hex[:6]}"
    driver.subscriptions.create(PROJECT, watched, receiver.url("/watched"), 3600, {})
    times: dict[str, list[float]] = {plain: [], watched: []}
    for n in range(50):  # warm up both paths
        post_once(driver, plain if n % 2 else watched)
    for n in range(posts * rounds):
        for queue in (plain, watched) if n % 2 == 0 else (watched, plain):
            times[queue].append(post_once(driver, queue))
    return statistics.median(times[plain]), statistics.median(times[watched])


def http_post_cost(db_url: str, receiver: Receiver, posts: int) -> tuple[float, float]:
    """Median seconds per HTTP post x1 to a real ``sqlqueue serve`` on ``db_url`` (1
    worker, its delivery worker on), without and with one webhook subscriber."""
    import requests

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env["SQLQUEUE_NOTIFY_ALLOW_NETWORKS"] = "127.0.0.1/32"
    command = [sys.executable, "-m", "sqlqueue", "serve", "--port", str(port)]
    command += ["--workers", "1", "--database-url", db_url]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v2/queues"
    headers = {"Client-ID": CLIENT, "X-Project-Id": PROJECT}
    plain, watched = f"hp-{uuid.uuid4().hex[:6]}", f"hw-{uuid.uuid4().hex[:6]}"
    times: dict[str, list[float]] = {plain: [], watched: []}
    try:
        with requests.Session() as http:
            _wait_up(http, f"http://127.0.0.1:{port}/v2/ping", headers)
            hook = {"subscriber": receiver.url("/http-watched"), "ttl": 3600}
            http.post(f"{base}/{watched}/subscriptions", json=hook, headers=headers)
            body = {"messages": [{"body": BODY, "ttl": 3600}]}
            for n in range(posts + 50):
                for queue in (plain, watched) if n % 2 == 0 else (watched, plain):
                    begun = time.perf_counter()
                    answer = http.post(f"{base}/{queue}/messages", json=body, headers=headers)
                    spent = time.perf_counter() - begun
                    assert answer.status_code == 201, answer.text
                    if n >= 50:  # warm-up
                        times[queue].append(spent)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return statistics.median(times[plain]), statistics.median(times[watched])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(http: Any, url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http.get(url, headers=headers, timeout=2).status_code == 204:
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError("sqlqueue serve did not start")


def bench(name: str, args: argparse.Namespace, receiver: Receiver) -> None:
    with fresh_database(name, DEFAULT_URLS, f"sqlqueue_notify_bench_{os.getpid()}") as database:
        driver = SqlDataDriver(database.engine)
        for subscribers in (1, 10):
            messages = max(1, args.messages // subscribers)
            rate = max(
                deliveries_per_second(driver, receiver, subscribers, messages)
                for _ in range(args.rounds)
            )
            floor = floor_per_second(receiver, messages * subscribers)
            print(
                f"{name:<10} deliveries/s, {subscribers:>2} subscriber(s): {rate:8.0f}"
                f"   floor (urllib3, 8 threads) {floor:8.0f}   ratio {rate / floor:.2f}"
            )
        none, one = post_cost(driver, receiver, args.posts, args.rounds)
        print(
            f"{name:<10} post x1 (storage): no subscriber {none * 1e6:7.0f} us, one webhook "
            f"{one * 1e6:7.0f} us   ratio {one / none:.2f} (target <= 1.20)"
        )
        none, one = http_post_cost(database.url, receiver, args.posts)
        print(
            f"{name:<10} post x1 (HTTP):    no subscriber {none * 1e6:7.0f} us, one webhook "
            f"{one * 1e6:7.0f} us   ratio {one / none:.2f} (target <= 1.20)"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument("--messages", type=int, default=2000, help="deliveries per measurement")
    parser.add_argument("--posts", type=int, default=1000, help="posts per round")
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    receiver = Receiver()
    for name in args.backends.split(","):
        bench(name.strip(), args, receiver)
    return 0


if __name__ == "__main__":
    sys.exit(main())
