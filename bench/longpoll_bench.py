"""Long-poll under load: 1,000 waiting requests, what they cost, and how fast a post wakes one.

For each backend, one ``sqlqueue serve`` (2 workers) on a fresh database:

1. floor: the workers' memory (RSS) and idle CPU, and the latency of ordinary
   requests (post 1 + stats), with nobody waiting;
2. the same with ``--waiters`` long-poll claims (``?wait=20``) held open
   over raw sockets, spread over ``--queues`` empty queues; printed beside
   the floor as a ratio (memory as the difference). Idle CPU is measured
   once the waiters have arrived: each one's first look is a claim query,
   and taking 1,000 of them is work, not idling; the arrival (until the
   workers use under ``SETTLED`` of a core and start no thread over half a
   second, at most ``ARRIVAL_MAX`` seconds) is printed on its own;
3. wake latency: a claim waits on a queue, a message is posted to it; the
   time from the post's 201 to the claim's 201, ``--wakes`` times. Its
   floor: a claim sent right after the post's 201 (what polling at once
   would take), as many times; printed with the ratio of the p99s, and
   the load average of the machine (other work on it shows in the tails).

Targets (issue 10): <= 200 MB more memory, idle CPU under 5% of a core,
ordinary p99 under 100 ms while waiting; wake p99 under 50 ms on
PostgreSQL, under 250 ms on MySQL and SQLite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness import cli
from harness.databases import Database
from harness.report import markdown, ms
from harness.server import Server, running_server
from harness.timing import percentile

PROJECT = "longpoll"
CLIENT_ID = str(uuid.uuid4())
HEADERS = {"Client-ID": CLIENT_ID, "X-Project-Id": PROJECT, "Content-Type": "application/json"}
CLAIM = json.dumps({"ttl": 60, "grace": 60})
WAIT = 20
IDLE_SECONDS = 5.0
SETTLED = 0.10
"""Share of a core under which the workers count as idle again (arrival is over)."""
ARRIVAL_MAX = 8.0
"""Seconds the arrival may take before the idle window starts anyway (within WAIT)."""
SLICE = 0.5


@dataclass
class Figures:
    """One backend's measurements (seconds, bytes, CPU seconds per second)."""

    rss_floor: int = 0
    rss_waiting: int = 0
    cpu_floor: float = 0.0
    cpu_waiting: float = 0.0
    ordinary_floor: list[float] = field(default_factory=list)
    ordinary_waiting: list[float] = field(default_factory=list)
    held: int = 0
    arrival_seconds: float = 0.0
    arrival_cpu: float = 0.0
    wakes: list[float] = field(default_factory=list)
    wake_floor: list[float] = field(default_factory=list)
    load: float = 0.0


def rss(pids: list[int]) -> int:
    """Resident bytes of the processes."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def idle_cpu(server: Server) -> float:
    """The workers' CPU seconds per second over IDLE_SECONDS."""
    before = sum(server.cpu().values())
    time.sleep(IDLE_SECONDS)
    return (sum(server.cpu().values()) - before) / IDLE_SECONDS


def threads(pids: list[int]) -> int:
    """How many threads the processes have (a long-poll waits on a thread of its own)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                total += int(line.split()[1])
    return total


def settle(server: Server) -> tuple[float, float]:
    """Wait until the workers are idle again (or ARRIVAL_MAX): (seconds, CPU seconds).

    Idle: under SETTLED of a core over a slice in which the workers started
    no thread, after at least one slice (the machine may stall the start).
    """
    started, first = time.monotonic(), sum(server.cpu().values())
    while time.monotonic() - started < ARRIVAL_MAX:
        before, count = sum(server.cpu().values()), threads(server.workers)
        time.sleep(SLICE)
        quiet = sum(server.cpu().values()) - before < SETTLED * SLICE
        if quiet and threads(server.workers) == count and time.monotonic() - started > 1.0:
            break
    return time.monotonic() - started, sum(server.cpu().values()) - first


def request(conn: http.client.HTTPConnection, method: str, path: str, body: str = "") -> int:
    conn.request(method, path, body=body or None, headers=HEADERS)
    answer = conn.getresponse()
    answer.read()
    return answer.status


def ordinary(server: Server, count: int) -> list[float]:
    """Latencies of ``count`` ordinary requests (alternately post 1 and stats)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    post = json.dumps({"messages": [{"body": {"n": 1}, "ttl": 300}]})
    found = []
    for i in range(count):
        started = time.perf_counter()
        if i % 2:
            assert request(conn, "GET", "/v2/queues/busy/stats") == 200
        else:
            assert request(conn, "POST", "/v2/queues/busy/messages", post) == 201
        found.append(time.perf_counter() - started)
    conn.close()
    return found


def hold_waiters(server: Server, count: int, queues: int) -> list[socket.socket]:
    """``count`` long-poll claims sent over raw sockets, left waiting."""
    held = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        path = f"/v2/queues/empty-{i % queues}/claims?wait={WAIT}"
        head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(CLAIM)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
        sock.sendall((head + "\r\n" + CLAIM).encode())
        held.append(sock)
    return held


def still_waiting(held: list[socket.socket]) -> int:
    """How many of the held requests have no answer yet."""
    waiting = 0
    for sock in held:
        sock.setblocking(False)
        try:
            sock.recv(1, socket.MSG_PEEK)  # an answer (or a close) is there
        except BlockingIOError:
            waiting += 1
        finally:
            sock.setblocking(True)
    return waiting


def wake_latency(server: Server, rounds: int) -> list[float]:
    """Seconds from a post's 201 to the 201 of the claim that waited for it."""
    found = []
    for i in range(rounds):
        queue = f"wake-{i}"
        waiter = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        poster = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        done: dict[str, float] = {}

        def wait(
            conn: http.client.HTTPConnection = waiter, q: str = queue, out: dict[str, float] = done
        ) -> None:
            status = request(conn, "POST", f"/v2/queues/{q}/claims?wait={WAIT}", CLAIM)
            out.update(status=status, at=time.perf_counter())

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.3)  # the claim waits by now
        body = json.dumps({"messages": [{"body": i, "ttl": 300}]})
        assert request(poster, "POST", f"/v2/queues/{queue}/messages", body) == 201
        posted = time.perf_counter()
        thread.join()
        assert done["status"] == 201, done
        found.append(done["at"] - posted)
        waiter.close()
        poster.close()
    return found


def claim_after_post(server: Server, rounds: int) -> list[float]:
    """Seconds from a post's 201 to the 201 of a claim sent right after it (no wait)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    found = []
    for i in range(rounds):
        body = json.dumps({"messages": [{"body": i, "ttl": 300}]})
        assert request(conn, "POST", f"/v2/queues/floor-{i}/messages", body) == 201
        posted = time.perf_counter()
        assert request(conn, "POST", f"/v2/queues/floor-{i}/claims", CLAIM) == 201
        found.append(time.perf_counter() - posted)
        time.sleep(0.3)  # the same pace as the wake rounds
    conn.close()
    return found


def measure(db: Database, args: argparse.Namespace) -> Figures:
    figures = Figures()
    extra = ["--max-connections", str(args.waiters * 2 + 64)]
    with (
        tempfile.TemporaryDirectory() as logs,
        running_server(db.url, 2, Path(logs), "WARNING", PROJECT, extra) as server,
    ):
        ordinary(server, 50)  # warm up
        figures.rss_floor, figures.cpu_floor = rss(server.workers), idle_cpu(server)
        figures.ordinary_floor = ordinary(server, args.requests)
        held = hold_waiters(server, args.waiters, args.queues)
        try:
            figures.arrival_seconds, figures.arrival_cpu = settle(server)
            figures.rss_waiting, figures.cpu_waiting = rss(server.workers), idle_cpu(server)
            figures.ordinary_waiting = ordinary(server, args.requests)
            figures.held = still_waiting(held)
        finally:
            for sock in held:
                sock.close()
        settle(server)  # the workers have seen every client leave
        figures.wakes = wake_latency(server, args.wakes)
        figures.wake_floor = claim_after_post(server, args.wakes)
        figures.load = os.getloadavg()[0]
    return figures


def table(results: dict[str, Figures]) -> None:
    rows = [
        (
            "backend",
            "waiters held",
            "arrival (s, CPU s)",
            "RSS floor → waiting (MB, +)",
            "idle CPU floor → waiting (% core)",
            "ordinary p99 floor → waiting (ms, ratio)",
            "wake p50 / p90 / p99 (ms)",
            "claim right after the post p50 / p99 (ms); wake p99 ratio",
            "load average",
        )
    ]
    for name, f in results.items():
        mb = (f.rss_floor / 2**20, f.rss_waiting / 2**20)
        p99 = (percentile(f.ordinary_floor, 99), percentile(f.ordinary_waiting, 99))
        rows.append(
            (
                name,
                str(f.held),
                f"{f.arrival_seconds:.1f}, {f.arrival_cpu:.2f}",
                f"{mb[0]:.0f} → {mb[1]:.0f} (+{mb[1] - mb[0]:.0f})",
                f"{f.cpu_floor * 100:.1f} → {f.cpu_waiting * 100:.1f}",
                f"{p99[0] * 1000:.1f} → {p99[1] * 1000:.1f} ({p99[1] / p99[0]:.2f}x)",
                f"{ms(f.wakes, 50)} / {ms(f.wakes, 90)} / {ms(f.wakes, 99)}",
                f"{ms(f.wake_floor, 50)} / {ms(f.wake_floor, 99)}; "
                f"{percentile(f.wakes, 99) / percentile(f.wake_floor, 99):.2f}x",
                f"{f.load:.1f}",
            )
        )
    print(markdown(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    cli.add_database_flags(parser, "sqlite,postgresql,mysql", "sqlqueue_longpoll_bench")
    parser.add_argument("--waiters", type=int, default=1000, help="long-polls held (1000)")
    parser.add_argument("--queues", type=int, default=100, help="queues they wait on (100)")
    parser.add_argument("--requests", type=int, default=400, help="ordinary requests (400)")
    parser.add_argument("--wakes", type=int, default=100, help="wake latency samples (100)")
    args = parser.parse_args(argv)
    return cli.finish(cli.run_backends(args, lambda db: measure(db, args)), table)


if __name__ == "__main__":
    sys.exit(main())
