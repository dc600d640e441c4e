"""GC at depth: the collector expires a deep queue while producers post into it.

For each backend a fresh migrated database (``harness.databases``) gets a queue
of ``--depth`` messages whose TTL has passed, loaded with bulk SQL
(``harness.bulk``; PostgreSQL with autovacuum off for the tables). Then, through
``SqlDataDriver``:

1. ``floor``: ``--producers`` threads post one message per call into that queue
   for ``--floor-seconds``, with no collector running;
2. ``collecting``: the same producers post while one collector thread (or
   ``--collectors``, as several serve workers) runs what a serve worker's gc
   round runs: ``gc()`` (delete the expired rows, in small batches by the
   queue-first ``(queue_id, expires_at)`` index, one short transaction each),
   then ``maintain()`` (the maintenance step: VACUUM on PostgreSQL, ANALYZE on
   MySQL, incremental vacuum and checkpoints on SQLite). The phase ends when
   the collectors are done.

The table gives the producers' post latency (p50, p99, max, and how many
posts took over 100 ms) in each phase, and the collectors' time. Target
(issue 11): no producer waits more than 100 ms on the collector, that is a
max post latency while collecting of at most 100 ms, read beside the floor's
max (the same machine's noise with no collector). After the run every
expired row must be gone and every posted message counted.

Usage::

    python bench/gc_depth_bench.py [--backends sqlite,postgresql,mysql] [--depth 1000000]
        [--producers 2] [--collectors 1] [--floor-seconds 10]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from harness import bulk, cli
from harness.databases import Database
from harness.report import environment, markdown
from harness.timing import Latencies, percentile, timed_call
from harness.waits import WaitSampler, table
from harness.workload import BenchError
from sqlalchemy.engine import Engine

from sqlqueue.config import GC_RATE
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql import writers
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine

PROJECT, QUEUE = "gcbench", "expiring"
SLOW_MS = 100.0
"""The target: the longest a producer may wait on the collector."""


@dataclass
class Outcome:
    """One backend: post latencies (seconds) per phase; the collectors' seconds."""

    posts: dict[str, list[float]] = field(default_factory=dict)
    gc_seconds: float = 0.0
    maintain_seconds: float = 0.0
    removed: int = 0
    maintenance: list[str] = field(default_factory=list)
    waits: WaitSampler | None = None
    holds: dict[str, list[float]] = field(default_factory=dict)
    """SQLite: seconds each turn at the writer lock was held, by role (producer, collector)."""


def record_holds(engine: Engine, holds: dict[str, list[float]]) -> None:
    """SQLite: time every turn at the process's writer lock (storage/sql/writers.py), by
    the role of the thread that held it, so that slow posts can be matched to long turns."""
    lock = writers.lock_for(engine)
    if lock is None:
        return
    acquire, release = lock.acquire, lock.release
    since: dict[int, float] = {}

    def timed_acquire(timeout: float) -> bool:
        got = acquire(timeout)
        if got and threading.get_ident() not in since:
            since[threading.get_ident()] = time.perf_counter()
        return got

    def timed_release() -> None:
        release()
        if lock._owner != threading.get_ident():  # the outermost release
            started = since.pop(threading.get_ident(), None)
            if started is not None:
                name = threading.current_thread().name.split("-")[0]
                holds.setdefault(name, []).append(time.perf_counter() - started)

    lock.acquire, lock.release = timed_acquire, timed_release  # type: ignore[method-assign]


def role(statement: str) -> str:
    """Who sends ``statement`` in this bench: a post, the collector or its maintenance."""
    text = " ".join(statement.split()).upper()
    if text.startswith(("VACUUM", "ANALYZE")):
        return "maintenance"
    if "INSERT INTO MESSAGES" in text or "UPDATE QUEUES" in text or "NOTIFY_UNTIL" in text:
        return "post"
    if "DELETE FROM MESSAGES" in text or "EXPIRES_AT <=" in text or "QUEUE_COUNTERS" in text:
        return "collector"
    if "MIN(MESSAGES.EXPIRES_AT)" in text or "FROM QUEUES ORDER BY" in text:
        return "collector"
    return ""


def produce(driver: SqlDataDriver, stop: threading.Event, out: Latencies) -> None:
    """Post one message per call into the queue until ``stop``."""
    while not stop.is_set():
        timed_call(out, "post", driver.messages.post, PROJECT, QUEUE, [NewMessage({"p": 1})], "p")


def with_producers(driver: SqlDataDriver, producers: int, work: Callable[[], None]) -> list[float]:
    """Run ``work`` while ``producers`` threads post; every post's seconds."""
    stop = threading.Event()
    latencies: list[Latencies] = [{} for _ in range(producers)]
    threads = [
        threading.Thread(
            target=produce, args=(driver, stop, latencies[i]), name=f"producer-{i}", daemon=True
        )
        for i in range(producers)
    ]
    for thread in threads:
        thread.start()
    try:
        work()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return [value for one in latencies for value in one.get("post", [])]


def collect(drivers: list[SqlDataDriver], outcome: Outcome) -> None:
    """Each driver's gc round at once (gc, then maintain), on threads of their own."""
    errors: list[BaseException] = []
    start = time.perf_counter()
    lock = threading.Lock()

    def round_of(driver: SqlDataDriver) -> None:
        try:
            removed = driver.gc()
            gc_done = time.perf_counter()
            done = driver.maintain()
            with lock:
                outcome.removed += removed
                outcome.gc_seconds = max(outcome.gc_seconds, gc_done - start)
                outcome.maintenance += done
                outcome.maintain_seconds = max(
                    outcome.maintain_seconds, time.perf_counter() - gc_done
                )
        except BaseException as ex:
            errors.append(ex)

    threads = [
        threading.Thread(target=round_of, args=(d,), name=f"collector-{i}")
        for i, d in enumerate(drivers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchError(f"collector failed: {errors[0]}") from errors[0]


def bench_backend(db: Database, args: argparse.Namespace) -> Outcome:
    """Load the expired queue, then the two phases; check nothing was lost."""
    bulk.autovacuum_off(db.engine)
    driver = SqlDataDriver(db.engine)
    driver.queues.create(PROJECT, QUEUE)
    now = driver.db.now_ms()
    started = time.perf_counter()
    queue = bulk.queue_id(db.engine, PROJECT, QUEUE)
    bulk.load(db.engine, queue, 1, args.depth, created=now - 120_000, expires=now - 60_000)
    bulk.analyze(db.engine)
    print(f"  {db.backend}: loaded {args.depth:,} in {time.perf_counter() - started:.0f} s")
    outcome = Outcome(waits=WaitSampler(db.engine, role))
    record_holds(db.engine, outcome.holds)
    waits = outcome.waits
    options = StorageOptions(gc_rate=args.gc_rate)
    # Engines of their own: a pooled connection keeps one role, so the wait
    # sampler can tell whose COMMIT a producer waits behind.
    collectors = [
        SqlDataDriver(make_engine(db.url), options=options) for _ in range(args.collectors)
    ]
    waits.start()
    try:
        waits.phase = "floor"
        outcome.posts["floor"] = with_producers(
            driver, args.producers, lambda: time.sleep(args.floor_seconds)
        )
        waits.phase = "collecting"
        outcome.posts["collecting"] = with_producers(
            driver, args.producers, lambda: collect(collectors, outcome)
        )
    finally:
        waits.phase = ""
        waits.stop()
        for collector in collectors:
            collector.close()
    posted = sum(len(values) for values in outcome.posts.values())
    left = db.left_in_queue(PROJECT, QUEUE)
    if outcome.removed != args.depth or left != posted:
        raise BenchError(f"removed {outcome.removed} of {args.depth}; {left} rows for {posted}")
    print(f"  {db.backend}: maintenance: {outcome.maintenance}")
    return outcome


def print_tables(results: dict[str, Outcome]) -> None:
    """One row per backend and phase: post latency in ms; the collectors' time."""
    rows = [
        (
            "backend",
            "phase",
            "posts",
            "p50 ms",
            "p99 ms",
            "max ms",
            f"> {SLOW_MS:g} ms",
            "collector",
        )
    ]
    for backend, outcome in results.items():
        for phase, seconds in outcome.posts.items():
            ms = sorted(s * 1000 for s in seconds)
            collector = ""
            if phase == "collecting":
                rate = outcome.removed / outcome.gc_seconds
                collector = (
                    f"gc {outcome.gc_seconds:.1f} s ({rate:,.0f} rows/s),"
                    f" maintain {outcome.maintain_seconds:.1f} s"
                )
            rows.append(
                (
                    backend,
                    phase,
                    f"{len(ms):,}",
                    f"{percentile(ms, 50):.1f}",
                    f"{percentile(ms, 99):.1f}",
                    f"{ms[-1]:.1f}",
                    str(sum(1 for value in ms if value > SLOW_MS)),
                    collector,
                )
            )
    print(markdown(rows))
    for backend, outcome in results.items():
        for who, seconds in sorted(outcome.holds.items()):
            ms = sorted(value * 1000 for value in seconds)
            print(
                f"\n{backend}: turns at the writer lock held by {who}: {len(ms):,},"
                f" p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms,"
                f" max {ms[-1]:.1f} ms, over {SLOW_MS:g} ms: {sum(1 for v in ms if v > SLOW_MS)}"
            )
        if outcome.waits is not None and outcome.waits.counts:
            print(f"\n{backend}: what the producers' sessions were doing (samples every 10 ms):\n")
            print(markdown(table(outcome.waits, "post")))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The harness's database flags plus depth, producers, collectors and the floor's length."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    cli.add_database_flags(parser, "sqlite,postgresql,mysql", "sqlqueue_gcbench")
    parser.add_argument("--depth", type=int, default=1_000_000, help="expired messages")
    parser.add_argument("--producers", type=int, default=2, help="posting threads")
    parser.add_argument("--collectors", type=int, default=1, help="gc rounds at once")
    parser.add_argument("--floor-seconds", type=float, default=10.0, help="floor phase length")
    parser.add_argument(
        "--gc-rate",
        type=float,
        default=GC_RATE,
        help=f"the collectors' gc_rate, rows/s (0: no cap; default {GC_RATE:g}, sqlqueue's)",
    )
    args = parser.parse_args(argv)
    cli.require_positive(parser, args, ("depth", "producers", "collectors"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"gc at depth: {args.depth:,} expired messages, {args.producers} producers,"
        f" {args.collectors} collector(s), gc_rate {args.gc_rate:g};"
        f" {environment(sqlalchemy=sa.__version__)}"
    )
    results = cli.run_backends(args, lambda db: bench_backend(db, args), "gc-bench-")
    return cli.finish(results, print_tables)


if __name__ == "__main__":
    sys.exit(main())
