"""Websocket push latency: from a post's HTTP 201 to the push on a subscribed socket.

Starts a real ``sqlqueue serve --websocket`` (SQLite in a temporary directory,
or ``--database-url``), subscribes ``--sockets`` sockets to one queue, then
posts ``--messages`` messages over HTTP one at a time. For each post it
records, per socket, the time from the 201 to the push arriving.

Floor, measured in the same run: right after each post, a ``message_get`` of
the new message over another socket (one websocket round trip to the same
server and database). Push latency / floor shows what the shared poll
(``websocket_poll_interval``) adds; the expected median is about half an
interval plus one poll query.

Usage::

    python bench/ws_push_bench.py [--messages N] [--sockets S] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests
import websocket

HEADERS = {"Client-ID": str(uuid.uuid4()), "X-Project-ID": "bench"}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(database_url: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """``sqlqueue serve --websocket`` on free ports; its process and both URLs."""
    port, ws_port = free_port(), free_port()
    command = [sys.executable, "-m", "sqlqueue", "serve", "--websocket", "--workers", "1"]
    command += ["--port", str(port), "--websocket-port", str(ws_port)]
    command += ["--database-url", database_url]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ws_url = f"ws://127.0.0.1:{ws_port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            websocket.create_connection(ws_url, timeout=2).close()
            requests.get(f"http://127.0.0.1:{port}/v2/ping", timeout=2)
            return process, f"http://127.0.0.1:{port}", ws_url
        except (OSError, websocket.WebSocketException, requests.ConnectionError):
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("sqlqueue serve --websocket did not start") from None
            time.sleep(0.2)


def call(conn: websocket.WebSocket, action: str, body: dict[str, object]) -> dict[str, object]:
    """One request over a socket; its reply."""
    conn.send(json.dumps({"action": action, "headers": HEADERS, "body": body}))
    reply: dict[str, object] = json.loads(conn.recv())
    return reply


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(http_url: str, ws_url: str, messages: int, sockets: int) -> None:
    """Post over HTTP, time pushes and the floor; print the table."""
    listeners = [websocket.create_connection(ws_url, timeout=10) for _ in range(sockets)]
    for conn in listeners:
        call(conn, "subscription_create", {"queue_name": "bench"})
    probe = websocket.create_connection(ws_url, timeout=10)
    session = requests.Session()
    pushes: list[float] = []
    floor: list[float] = []
    headers = {**HEADERS, "X-Project-Id": HEADERS["X-Project-ID"]}
    for n in range(messages):
        result = session.post(
            f"{http_url}/v2/queues/bench/messages",
            headers=headers,
            json={"messages": [{"body": n}]},
        )
        posted = time.perf_counter()
        message_id = result.json()["resources"][0].rsplit("/", 1)[1]
        call(probe, "message_get", {"queue_name": "bench", "message_id": message_id})
        floor.append(time.perf_counter() - posted)
        for conn in listeners:
            frame = json.loads(conn.recv())
            assert frame["body"] == n, frame
            pushes.append(time.perf_counter() - posted)
        time.sleep(random.uniform(0.0, 0.15))  # posts out of phase with the poll
    for conn in [*listeners, probe]:
        conn.close()
    print(f"{messages} posts, {sockets} subscribed sockets, poll interval 0.15 s (default)")
    print(f"{'':12} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (("push", pushes), ("floor (get)", floor)):
        row = [percentile(values, f) * 1000 for f in (0.5, 0.9, 0.99)] + [max(values) * 1000]
        print(f"{name:12} " + " ".join(f"{v:8.1f}" for v in row))
    ratio = statistics.median(pushes) / statistics.median(floor)
    print(f"push/floor at the median: {ratio:.1f}x")


def main() -> None:
    """Parse arguments, run, stop the server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--sockets", type=int, default=10)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        process, http_url, ws_url = start(url)
        try:
            measure(http_url, ws_url, args.messages, args.sockets)
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
