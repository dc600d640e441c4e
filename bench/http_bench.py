"""HTTP benchmark: ``sqlqueue serve`` over loopback beside the in-process storage floor.

For each backend a fresh database is created and migrated, a real
``sqlqueue serve`` subprocess (gunicorn, threaded workers) is started on a
free port of 127.0.0.1, and three workloads run on two sides, each with the
same number of concurrent client threads:

* **http**: ``requests.Session`` clients (one per thread, keep-alive) speaking
  the Zaqar v2 wire format to the server;
* **floor**: the same operations called directly on ``SqlDataDriver`` in this
  process, against the same database.

The workloads, as in ``storage_bench.py``:

1. ``post x1``: post one message per request;
2. ``post x10``: post batches of ten;
3. ``claim10+delete``: every client loops ``POST .../claims?limit=10`` (201,
   or 204 when nothing is left) and DELETEs each claimed message by its href
   (``?claim_id=``), until the queue is empty.

So HTTP msg/s / floor msg/s is what the HTTP layer costs: the client library,
the WSGI server, Falcon, validation, routing through the pool catalogue and
serialisation. After a warm-up round the sides take turns (which goes first
alternates) for R rounds, each round on a new queue. Every round is checked:
every posted message is consumed exactly once with its body, and the queue is
left empty. The table keeps the best round of each side; latencies are per
request, client-side, over all timed rounds. CPU per message is read from
``/proc`` (server workers) and ``time.process_time`` (this process: the HTTP
clients, or the floor).

Usage::

    python bench/http_bench.py [--backends sqlite,postgresql] [--messages N] [--rounds R]
                               [--workers W] [--clients C]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from harness import cli
from harness.clients import Claimed, Client, FloorClient, HttpClient
from harness.databases import Database
from harness.report import environment, markdown, ms, print_spread, ratio_cells
from harness.rounds import Results, interleaved_rounds
from harness.server import Server, running_server, stop_on_sigterm
from harness.timing import Latencies, Phase, Work, check_deadline, run_threads, timed_call
from harness.workload import BATCH, OPERATIONS, BenchError, Body, bodies, verify

from sqlqueue.storage.sql.driver import SqlDataDriver

PROJECT = "httpbench"
SIDES = ("http", "floor")


# -------------------------------------------------------------------------- workload


@dataclass
class Side:
    """One way of reaching the queue: a client per thread, and queue creation."""

    name: str
    make_client: Callable[[], Client]
    create_queue: Callable[[str], None]
    server: Server | None = None


def poster(queue: str, batches: list[list[Body]], clients: int) -> Work[Client, tuple[str, int]]:
    """Thread i posts batches i, i + clients, ...; it returns (message id, seq) pairs."""

    def work(
        client: Client, index: int, latencies: Latencies, deadline: float
    ) -> list[tuple[str, int]]:
        posted: list[tuple[str, int]] = []
        for batch in batches[index::clients]:
            check_deadline(deadline)
            ids = timed_call(latencies, "post", client.post, queue, batch)
            if len(ids) != len(batch):
                raise BenchError(f"posted {len(batch)} messages, got {len(ids)} ids")
            posted += zip(ids, [body["seq"] for body in batch], strict=True)
        return posted

    return work


def consumer(queue: str) -> Work[Client, Claimed]:
    """Claim up to ten, delete each with its claim id, until a claim finds nothing."""

    def work(client: Client, _index: int, latencies: Latencies, deadline: float) -> list[Claimed]:
        consumed: list[Claimed] = []
        while True:
            check_deadline(deadline)
            found = timed_call(latencies, "claim", client.claim, queue)
            if not found:
                return consumed
            for message in found:
                timed_call(latencies, "delete", client.delete, queue, message)
            consumed += found

    return work


def run_round(
    db: Database, side: Side, queue: str, count: int, clients: int, timeout: float
) -> dict[str, Phase]:
    """Post ``count`` singly and ``count`` in batches, then consume all 2 x ``count``."""
    side.create_queue(queue)
    phases: dict[str, Phase] = {}
    posted: list[tuple[str, int]] = []
    cpu = side.server.cpu if side.server else None
    for op, start, size in (("post x1", 0, 1), ("post x10", count, BATCH)):
        messages = bodies(start, count)
        batches = [messages[i : i + size] for i in range(0, count, size)]
        db.settle()
        work = poster(queue, batches, clients)
        phases[op], ids = run_threads(
            side.name, clients, count, side.make_client, work, timeout, cpu
        )
        posted += ids
    db.settle()
    phases[OPERATIONS[2]], consumed = run_threads(
        side.name, clients, 2 * count, side.make_client, consumer(queue), timeout, cpu
    )
    got = [(message.id, message.seq) for message in consumed]
    verify(side.name, posted, got, 2 * count, db.left_in_queue(PROJECT, queue))
    return phases


# --------------------------------------------------------------------------- results


def print_tables(results: dict[str, Results]) -> None:
    """Rates with latencies, then CPU per message, then notes on each backend."""
    head = ("backend", "operation", "HTTP msg/s", "floor msg/s", "HTTP/floor", "p50 ms", "p99 ms")
    rows: list[tuple[str, ...]] = [head]
    cpu_rows: list[tuple[str, ...]] = [
        ("backend", "operation", "client µs/msg", "server µs/msg", "floor µs/msg", "requests/msg")
    ]
    notes = []
    for name, res in results.items():
        for op in OPERATIONS:
            lat = res.latencies("http", op)
            every = [value for values in lat.values() for value in values]
            rows.append(
                (name, op, *ratio_cells(res, "http", "floor", op), ms(every, 50), ms(every, 99))
            )
            client, server = res.cpu_per_message("http", op)
            floor_cpu, _ = res.cpu_per_message("floor", op)
            requests_per_message = len(every) / res.messages("http", op)
            cpus = (f"{client:,.0f}", f"{server:,.0f}", f"{floor_cpu:,.0f}")
            cpu_rows.append((name, op, *cpus, f"{requests_per_message:.2f}"))
            if len(lat) > 1:
                kinds = ", ".join(
                    f"{kind} p50 {ms(v, 50)} / p99 {ms(v, 99)} ms" for kind, v in lat.items()
                )
                notes.append(f"{name} {op}: {kinds}")
        shares = "/".join(f"{share:.0%}" for share in res.worker_shares("http"))
        notes.append(f"{name}: server CPU split between workers {shares}")
    print(markdown(rows))
    print()
    print(markdown(cpu_rows))
    print()
    print("\n".join(notes))
    print_spread(results, SIDES)


# ---------------------------------------------------------------------------- driver


def _http_side(server: Server) -> Side:
    def make_client() -> Client:
        client = HttpClient(server.url, PROJECT)
        client.connect()  # the keep-alive connection, before the clock starts
        return client

    def create_queue(queue: str) -> None:
        client = HttpClient(server.url, PROJECT)
        try:
            client.create_queue(queue)
        finally:
            client.close()

    return Side("http", make_client, create_queue, server)


def _floor_side(db: Database) -> Side:
    driver = SqlDataDriver(db.engine)

    def create_queue(queue: str) -> None:
        driver.queues.create(PROJECT, queue)

    return Side("floor", lambda: FloorClient(driver, PROJECT), create_queue)


def bench_backend(db: Database, args: argparse.Namespace, log_dir: Path) -> Results:
    """Start the server, warm both sides up, then interleaved rounds of both sides."""
    with running_server(db.url, args.workers, log_dir, args.log_level, PROJECT) as server:
        print(
            f"  {db.backend}: sqlqueue serve on {server.url}, workers {server.workers}", flush=True
        )

        def run(side: Side, queue: str, count: int) -> dict[str, Phase]:
            return run_round(db, side, queue, count, args.clients, args.phase_timeout)

        sides = [_http_side(server), _floor_side(db)]
        return interleaved_rounds(db.backend, sides, args.rounds, args.messages, run)


def main(argv: list[str] | None = None) -> int:
    parser = cli.bench_parser(__doc__, "sqlite,postgresql", "sqlqueue_httpbench")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (4)")
    parser.add_argument("--log-level", help="the server's SQLQUEUE_LOG_LEVEL (default: INFO)")
    parser.add_argument(
        "--phase-timeout", type=float, default=120.0, help="seconds one phase may take (120)"
    )
    args = cli.parse(parser, argv, ("workers", "clients"))
    stop_on_sigterm()
    print(
        f"sqlqueue HTTP bench: {args.messages} messages per workload, best of {args.rounds}"
        f" rounds, {args.clients} client threads, {args.workers} server workers;"
        f" {environment(requests=version('requests'))}",
        flush=True,
    )

    def bench(db: Database) -> Results:
        with tempfile.TemporaryDirectory(prefix="sqlqueue-httpbench-log-") as logs:
            return bench_backend(db, args, Path(logs))

    return cli.finish(cli.run_backends(args, bench, "sqlqueue-httpbench-"), print_tables)


if __name__ == "__main__":
    sys.exit(main())
