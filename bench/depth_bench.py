"""Depth benchmark: hot operations on a shallow and a deep queue, beside churn.

For each backend two fresh databases are created and migrated
(``harness.databases``), then filled with bulk SQL (``harness.bulk``: ``INSERT …
SELECT`` over generated numbers, no API calls), and measured through
``SqlDataDriver`` (storage time, no HTTP):

* the *floor* database holds one queue of ``--small`` messages and nothing
  else: situation ``1k``;
* the *deep* database holds the same small queue beside a queue of
  ``--depth`` messages: situations ``1k + 1M neighbour`` and ``1M``;
* then ``--dead`` messages are posted to the deep queue ahead of its live
  ones and consumed (deleted), leaving dead rows at the head of its index
  on PostgreSQL (autovacuum is off for the tables): situations
  ``1k + dead`` and ``1M + dead``, measured beside a fresh ``1k`` floor;
* then the collector's maintenance step runs once, as ``sqlqueue gc`` or a
  serve worker's gc round would (``SqlDataDriver.maintain``: VACUUM on
  PostgreSQL once the dead rows pass its threshold): situations
  ``1k + dead, maintained`` and ``1M + dead, maintained`` (``--no-maintenance``
  leaves this phase out).

Within each phase the situations take turns round by round (the start
rotates), so a busy machine slows them alike. Each round times ``stats``,
``list`` (10), ten ``post 1``, ``claim 10`` and the ten deletes of the
claimed messages (with the claim id), so every queue keeps its depth. The
table gives p50/p99 in milliseconds and each operation's p50 divided by its
p50 at ``1k`` in the same phase. Targets (issue 11): every ratio at most
1.3; stats at 1M under 5 ms server time on PostgreSQL.

Usage::

    python bench/depth_bench.py [--backends sqlite,postgresql,mysql]
        [--depth 1000000] [--small 1000] [--dead N] [--rounds 60] [--no-maintenance]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import sqlalchemy as sa
from harness import bulk, cli
from harness.databases import Database, fresh_database
from harness.report import environment, markdown
from harness.timing import percentile
from sqlalchemy import event

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver

PROJECT = "depth"
SMALL, BIG = "small", "big"
OPERATIONS = ("stats", "list", "post 1", "claim 10", "delete")
WARMUP_ROUNDS = 3
Samples = dict[str, list[float]]
"""Milliseconds per call, by operation."""
Situation = tuple[str, SqlDataDriver, str]
"""(label, driver, queue name)."""
Phase = dict[str, Samples]
"""Samples by situation label; the first label is the phase's ``1k`` floor."""


def timed_ms(samples: list[float], step: Callable[[], Any]) -> Any:
    """``step()``, appending the milliseconds it took to ``samples``."""
    start = time.perf_counter()
    result = step()
    samples.append((time.perf_counter() - start) * 1000)
    return result


def one_round(driver: SqlDataDriver, queue: str, out: Samples) -> None:
    """stats, list, 10 x post 1, claim 10 and its 10 deletes; ms per call into ``out``."""
    m, c = driver.messages, driver.claims
    timed_ms(out["stats"], lambda: driver.queues.stats(PROJECT, queue))
    timed_ms(out["list"], lambda: m.list(PROJECT, queue, limit=10))
    for _ in range(10):
        timed_ms(out["post 1"], lambda: m.post(PROJECT, queue, [NewMessage({"n": 1})], "bench"))
    claim_id, taken = timed_ms(
        out["claim 10"], lambda: c.create(PROJECT, queue, ttl=300, grace=60, limit=10)
    )
    for message in taken:
        timed_ms(out["delete"], partial(m.delete, PROJECT, queue, message.id, claim_id))


def measure(situations: list[Situation], rounds: int) -> Phase:
    """Interleaved rounds over the situations, after untimed warm-up rounds each.

    On PostgreSQL, then prints the server time of stats in each situation.
    """
    results: Phase = {label: {op: [] for op in OPERATIONS} for label, _, _ in situations}
    for number in range(rounds + WARMUP_ROUNDS):
        shift = number % len(situations)
        for label, driver, queue in situations[shift:] + situations[:shift]:
            warm = number < WARMUP_ROUNDS
            one_round(driver, queue, {op: [] for op in OPERATIONS} if warm else results[label])
    if situations[0][1].engine.dialect.name == "postgresql":
        server = [f"{label} {stats_server_ms(d, q):.2f} ms" for label, d, q in situations]
        print(f"  postgresql stats server time (planning + execution): {', '.join(server)}")
    return results


def stats_server_ms(driver: SqlDataDriver, queue: str, repeats: int = 20) -> float:
    """PostgreSQL: median planning + execution time of what one stats call sends (ms).

    The statements are captured as the code issues them, then each is run
    under ``EXPLAIN (ANALYZE)``; network and client time are left out.
    """
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(driver.engine, "before_cursor_execute", record)
    try:
        driver.queues.stats(PROJECT, queue)
    finally:
        event.remove(driver.engine, "before_cursor_execute", record)
    totals = []
    raw = driver.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for _ in range(repeats):
            total = 0.0
            for statement, params in seen:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
                plan = cursor.fetchone()[0][0]  # type: ignore[index]
                total += plan["Planning Time"] + plan["Execution Time"]
            totals.append(total)
        raw.rollback()
    finally:
        raw.close()
    return statistics.median(totals)


def check_counts(driver: SqlDataDriver, queue: str, expected: int) -> None:
    """Exit unless stats give ``expected`` messages, none claimed (nothing lost)."""
    stats = driver.queues.stats(PROJECT, queue)
    if stats.total != expected or stats.claimed != 0:
        sys.exit(f"stats of {queue}: total {stats.total}, claimed {stats.claimed}; want {expected}")


def size(count: int) -> str:
    """``1k``, ``20k``, ``1M``: a queue's depth in a situation's label."""
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    return f"{count / 1000:g}k"


def prepare(db: Database) -> SqlDataDriver:
    """Autovacuum off (PostgreSQL) and the two queues, on a fresh migrated database."""
    bulk.autovacuum_off(db.engine)
    driver = SqlDataDriver(db.engine)
    for name in (SMALL, BIG):
        driver.queues.create(PROJECT, name)
    return driver


def kill_head(db: Database, dead: int, now: int) -> None:
    """Post ``dead`` messages ahead of the deep queue's live ones, then delete them."""
    big = bulk.queue_id(db.engine, PROJECT, BIG)
    bulk.load(db.engine, big, 1, dead, created=now, counted=False)
    with db.engine.begin() as conn:  # consumed: deleted, never vacuumed
        conn.execute(
            sa.text("DELETE FROM messages WHERE queue_id = :q AND marker <= :m"),
            {"q": big, "m": dead},
        )
    bulk.analyze(db.engine)


def maintain(db: Database, driver: SqlDataDriver, dead: int) -> None:
    """The collector's maintenance step, once PostgreSQL's statistics show the dead rows."""
    if db.backend == "postgresql":
        bulk.wait_for_dead_rows(db.engine, "messages", dead)
    started = time.perf_counter()
    done = driver.maintain()
    print(f"  {db.backend}: maintenance in {time.perf_counter() - started:.1f} s: {done}")


def load_all(floor_db: Database, deep_db: Database, args: argparse.Namespace, now: int) -> None:
    """The small queue in both databases, the deep one after room for the dead rows."""
    started = time.perf_counter()
    for db in (floor_db, deep_db):
        small = bulk.queue_id(db.engine, PROJECT, SMALL)
        bulk.load(db.engine, small, 1, args.small, created=now)
    big = bulk.queue_id(deep_db.engine, PROJECT, BIG)
    bulk.load(deep_db.engine, big, args.dead + 1, args.depth, created=now)
    bulk.analyze(floor_db.engine)
    bulk.analyze(deep_db.engine)
    seconds = time.perf_counter() - started
    print(f"  {deep_db.backend}: loaded {args.depth:,} in {seconds:.0f} s", flush=True)


def run_phases(
    deep_db: Database, floor: SqlDataDriver, deep: SqlDataDriver, args: argparse.Namespace
) -> list[Phase]:
    """Depth; dead rows; dead rows after the maintenance step (each beside the floor)."""
    low, high = size(args.small), size(args.depth)
    base = (low, floor, SMALL)
    phases = [
        measure([base, (f"{low} + {high} neighbour", deep, SMALL), (high, deep, BIG)], args.rounds)
    ]
    if args.dead:
        kill_head(deep_db, args.dead, deep.db.now_ms())
        dead = [(f"{low} + dead", deep, SMALL), (f"{high} + dead", deep, BIG)]
        phases.append(measure([base, *dead], args.rounds))
    if args.dead and args.maintenance:
        maintain(deep_db, deep, args.dead)
        kept = [(f"{label}, maintained", d, q) for label, d, q in dead]
        phases.append(measure([base, *kept], args.rounds))
    return phases


def bench_backend(deep_db: Database, args: argparse.Namespace) -> list[Phase]:
    """Load, run the phases, check that stats still count every message."""
    name = args.db_name + "_floor"
    with fresh_database(deep_db.backend, cli.server_urls(args), name, "depth-floor-") as floor_db:
        floor, deep = prepare(floor_db), prepare(deep_db)
        load_all(floor_db, deep_db, args, deep.db.now_ms())
        phases = run_phases(deep_db, floor, deep, args)
        check_counts(floor, SMALL, args.small)
        check_counts(deep, SMALL, args.small)
        check_counts(deep, BIG, args.depth)
        floor.close()
        deep.close()
    return phases


def phase_rows(results: Phase) -> list[list[str]]:
    """One row per situation: p50 / p99 (ratio of p50 to the phase's floor p50) per operation."""
    first = next(iter(results))
    floor = {op: statistics.median(results[first][op]) for op in OPERATIONS}
    rows = []
    for situation, samples in results.items():
        cells = [situation]
        for op in OPERATIONS:
            p50, p99 = statistics.median(samples[op]), percentile(samples[op], 99)
            ratio = "" if situation == first else f" ({p50 / floor[op]:.2f}x)"
            cells.append(f"{p50:.2f} / {p99:.2f}{ratio}")
        rows.append(cells)
    return rows


def print_tables(results: dict[str, list[Phase]]) -> None:
    """A markdown table per backend, its phases one after the other."""
    for backend, phases in results.items():
        print(f"{backend}:\n")
        rows: list[list[str]] = [["situation", *OPERATIONS]]
        for phase in phases:
            rows += phase_rows(phase)
        print(markdown(rows) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The harness's database flags plus the depths, rounds and maintenance switch."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    cli.add_database_flags(parser, "sqlite,postgresql,mysql", "sqlqueue_depthbench")
    parser.add_argument("--depth", type=int, default=1_000_000, help="deep queue's messages")
    parser.add_argument("--small", type=int, default=1000, help="shallow queue's messages")
    parser.add_argument("--dead", type=int, help="consumed rows left behind (0.3 x depth)")
    parser.add_argument("--rounds", type=int, default=60, help="timed rounds per situation")
    parser.add_argument(
        "--no-maintenance",
        dest="maintenance",
        action="store_false",
        help="leave out the phase after the collector's maintenance step",
    )
    args = parser.parse_args(argv)
    if args.dead is None:
        args.dead = int(args.depth * 0.3)
    cli.require_positive(parser, args, ("depth", "small", "rounds"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"depth bench: {args.small:,} vs {args.depth:,} messages, {args.dead:,} dead rows,"
        f" {args.rounds} rounds; p50 / p99 ms (p50 ÷ p50 at 1k);"
        f" {environment(sqlalchemy=sa.__version__)}"
    )
    results = cli.run_backends(args, lambda db: bench_backend(db, args), "depth-bench-")
    return cli.finish(results, print_tables)


if __name__ == "__main__":
    sys.exit(main())
