"""Slow clients and server CPU: ``sqlqueue serve`` against the servers it could have been.

    python bench/slowloris.py [--slow 200] [--requests 400] [--workers 2] [--threads 2]

Each server serves ``sqlqueue.wsgi:app`` (or ``sqlqueue serve``) on a fresh
SQLite database over loopback, with the same workers and threads:

* ``sqlqueue serve``: granian, RSGI front reading whole requests (the choice);
* ``gunicorn gthread``: the former ``sqlqueue serve`` (the floor of the ratios);
* ``granian wsgi``: granian's own WSGI interface.

Two measurements per server, one after the other:

1. CPU: ``--requests`` normal requests (a one-message post, then a stats
   read, alternately) from one client on one keep-alive connection; the
   server's user+system CPU (master and workers, from /proc) per request.
2. Slow clients: ``--slow`` connections (half send a request line and then
   a header byte every 0.5 s, half a whole head and then a body byte every
   0.5 s), then normal requests each on a new connection (5 s timeout,
   stopped after 3 failures): how many were answered, p50 and p99.

Prints one row per server and the CPU ratio to gunicorn measured in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"
HEADERS = {
    "Client-ID": "5b5c8a36-5d4e-4b56-9d1f-3a0f0c2c7e11",
    "X-Project-Id": "bench",
    "Content-Type": "application/json",
}
SLOW_HEAD = b"GET /v2/ping HTTP/1.1\r\nHost: slow\r\n"
SLOW_BODY = (
    b"PUT /v2/queues/slow HTTP/1.1\r\nHost: slow\r\nClient-ID: 5b5c8a36-5d4e-4b56-9d1f-3a0f0c2c7e11"
    b"\r\nX-Project-Id: bench\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_FAILURES = 3


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tree_cpu(root: int) -> float:
    """User + system CPU seconds of ``root`` and every descendant still alive."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def sqlqueue_command() -> list[str]:
    """The console script (or the module when not on PATH)."""
    script = shutil.which("sqlqueue")
    return [script] if script else [sys.executable, "-m", "sqlqueue"]


def server_commands(port: int, workers: int, threads: int) -> dict[str, list[str]]:
    """The command line of each server compared."""
    bind = ["--host", HOST, "--port", str(port)]
    size = ["--workers", str(workers)]
    app = "sqlqueue.wsgi:app"
    return {
        "sqlqueue serve": [*sqlqueue_command(), "serve", *bind, *size, "--threads", str(threads)],
        "gunicorn gthread": [
            *[sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}", *size],
            *["--worker-class", "gthread", "--threads", str(threads), app],
        ],
        "granian wsgi": [
            *[sys.executable, "-m", "granian", "--interface", "wsgi", *bind, *size],
            *["--blocking-threads", str(threads), app],
        ],
    }


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> int:
    """One request on ``conn``; its status."""
    conn.request(method, path, body=body, headers=HEADERS)
    response = conn.getresponse()
    response.read()
    return response.status


def normal(number: int) -> tuple[str, str, bytes | None]:
    """The ``number``-th normal request: a post, then a stats read."""
    if number % 2:
        return "GET", "/v2/queues/bench/stats", None
    return "POST", "/v2/queues/bench/messages", b'{"messages": [{"body": %d}]}' % number


def wait_up(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until the server answers /v2/ping (the app may be built on the first request)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            if request(conn, "GET", "/v2/ping", None) == 204:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not come up")


def cpu_per_request(port: int, pid: int, count: int) -> float:
    """Server CPU milliseconds per request, one client on one keep-alive connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    for number in range(20):  # warm up
        request(conn, *normal(number))
    before = tree_cpu(pid)
    for number in range(count):
        assert request(conn, *normal(number)) in (200, 201)
    time.sleep(0.2)  # let the last access lines be written
    return (tree_cpu(pid) - before) * 1000 / count


def trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """One byte per socket every 0.5 s until ``stop``."""
    while not stop.wait(0.5):
        for sock in sockets:
            try:
                sock.sendall(b" ")
            except OSError:
                pass


def under_slow_clients(port: int, slow: int, count: int) -> tuple[int, int, float, float]:
    """(answered, attempted, p50 ms, p99 ms) of normal requests among ``slow`` slow clients."""
    sockets = []
    for number in range(slow):
        sock = socket.create_connection((HOST, port), timeout=5)
        sock.sendall(SLOW_HEAD if number % 2 else SLOW_BODY)
        sockets.append(sock)
    stop = threading.Event()
    thread = threading.Thread(target=trickle, args=(sockets, stop), daemon=True)
    thread.start()
    time.sleep(1.0)
    times, failures, attempted = [], 0, 0
    try:
        for number in range(count):
            attempted += 1
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=5)
                request(conn, *normal(number))
                conn.close()
                times.append(time.perf_counter() - started)
            except OSError:
                failures += 1
                if failures >= MAX_FAILURES:
                    break
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()
    times.sort()

    def rank(share: float) -> float:
        return times[min(len(times) - 1, int(share * len(times)))] * 1000 if times else float("nan")

    return len(times), attempted, rank(0.50), rank(0.99)


def run_one(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """Start one server on a fresh database, measure it, stop it."""
    port = free_port()
    database = f"sqlite:///{workdir}/{name.replace(' ', '_')}.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env |= {"SQLQUEUE_DATABASE_URL": database, "SQLQUEUE_LOG_LEVEL": "WARNING"}
    subprocess.run([*sqlqueue_command(), "db", "upgrade"], env=env, check=True, capture_output=True)
    command = server_commands(port, args.workers, args.threads)[name]
    log = (workdir / f"{name.replace(' ', '_')}.log").open("wb")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_up(port, process)
        cpu = cpu_per_request(port, process.pid, args.requests)
        answered, attempted, p50, p99 = under_slow_clients(port, args.slow, args.requests // 4)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    return {"cpu": cpu, "answered": answered, "attempted": attempted, "p50": p50, "p99": p99}


def main() -> None:
    """Measure every server and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=200, help="slow connections (200)")
    parser.add_argument("--requests", type=int, default=400, help="normal requests (400)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    names = ["gunicorn gthread", "granian wsgi", "sqlqueue serve"]
    with tempfile.TemporaryDirectory(prefix="sqlqueue-slowloris-") as tmp:
        results = {name: run_one(name, args, Path(tmp)) for name in names}
    floor = results["gunicorn gthread"]["cpu"]
    print(
        f"{args.workers} workers x {args.threads} threads, SQLite, loopback; "
        f"{args.slow} slow clients (half slow heads, half slow bodies)"
    )
    print(
        f"{'server':<18} {'CPU ms/req':>10} {'vs gunicorn':>11}"
        "   answered under slowloris   p50 ms   p99 ms"
    )
    for name, row in results.items():
        print(
            f"{name:<18} {row['cpu']:>10.2f} {row['cpu'] / floor:>10.2f}x   "
            f"{int(row['answered']):>6} of {int(row['attempted']):<6}           "
            f"{row['p50']:>7.1f}  {row['p99']:>7.1f}"
        )


if __name__ == "__main__":
    main()
