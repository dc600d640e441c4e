"""Storage benchmark: sqlqueue's SQL data driver beside a hand-written DB-API floor.

For each backend (SQLite file, PostgreSQL, MySQL/MariaDB) a fresh database is
created and migrated with sqlqueue's Alembic migrations, then three workloads
run through ``SqlDataDriver`` and through a *floor*: the same statements, in
the same transactions, written by hand against the raw driver (sqlite3 /
psycopg2 / pymysql) with no SQLAlchemy in the loop:

1. ``post x1``: post one message per call (one transaction each);
2. ``post x10``: post batches of ten;
3. ``claim10+delete``: the consumer loop -- claim up to ten, then delete each
   claimed message with its claim id -- until the queue is empty.

Both sides move the same number of messages. Each round runs every side from
an empty messages table (sides alternate which goes first), and every run is
checked: the consumer must receive every posted message exactly once, in
posting (FIFO) order, leaving the queue empty. The table reports the best of
the rounds for each side.

Before timing, each backend runs one transaction of each kind through both
sides while counting the statements sent to the driver (a SQLAlchemy
``before_cursor_execute`` listener on the sqlqueue side, a counting cursor on
the floor side) and stops if the two sides do not issue the same statements.

Usage::

    python bench/storage_bench.py [--backends sqlite,postgresql,mysql]
                                  [--messages N] [--rounds R] [--profile]
"""

from __future__ import annotations

import cProfile
import sqlite3
import sys
from typing import Any

import sqlalchemy as sa
from harness import cli
from harness.databases import Database
from harness.profiling import print_profile
from harness.report import environment, markdown, print_spread, ratio_cells
from harness.rounds import Results, interleaved_rounds
from harness.timing import Phase, timed
from harness.workload import BATCH, CLAIM_LIMIT, OPERATIONS, bodies, verify
from statement_check import check_statements
from storage_sides import PROJECT, Backend, Side, floor_backend

from sqlqueue.storage.sql.driver import SqlDataDriver

SIDES = ("sqlqueue", "floor")


def _post_all(side: Side, queue: str, messages: list[Any], batch: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(messages), batch):
        ids += side.post(queue, messages[start : start + batch])
    return ids


def _consume_all(side: Side, queue: str) -> list[tuple[str, Any]]:
    consumed: list[tuple[str, Any]] = []
    while True:
        claim_id, found = side.claim(queue, CLAIM_LIMIT)
        if claim_id is None or not found:
            return consumed
        for message_id, _body in found:
            side.delete(queue, message_id, claim_id)
        consumed += found


def run_side(backend: Backend, side: Side, queue: str, count: int) -> dict[str, Phase]:
    """Post ``count`` singly, ``count`` in batches, then consume all 2 x ``count`` (FIFO)."""
    SqlDataDriver(backend.engine).queues.create(PROJECT, queue)
    backend.settle()
    t_single, ids = timed(lambda: _post_all(side, queue, bodies(0, count), 1))
    backend.settle()
    t_batch, batch_ids = timed(lambda: _post_all(side, queue, bodies(count, count), BATCH))
    backend.settle()
    t_consume, consumed = timed(lambda: _consume_all(side, queue))
    posted = list(zip(ids + batch_ids, range(2 * count), strict=True))
    got = [(message_id, body["seq"]) for message_id, body in consumed]
    left = backend.db.left_in_queue(PROJECT, queue)
    verify(side.name, posted, got, 2 * count, left, fifo=True)
    seconds = (t_single, t_batch, t_consume)
    counts = (count, count, 2 * count)
    return {op: Phase(s, n) for op, s, n in zip(OPERATIONS, seconds, counts, strict=True)}


def bench_backend(
    backend: Backend, rounds: int, count: int, profiler: cProfile.Profile | None
) -> Results:
    """Check the statements, warm up, then ``rounds`` interleaved rounds of both sides."""
    print(f"  {backend.name} {check_statements(backend)}", flush=True)

    def run(side: Side, queue: str, messages: int) -> dict[str, Phase]:
        timed_round = not queue.startswith("warmup-")  # the profile leaves the warm-up out
        watch = profiler if side.name == "sqlqueue" and timed_round else None
        if watch is not None:
            watch.enable()
        try:
            return run_side(backend, side, queue, messages)
        finally:
            if watch is not None:
                watch.disable()

    return interleaved_rounds(backend.name, backend.sides(), rounds, count, run)


def print_table(results: dict[str, Results]) -> None:
    """The best msg/s of each side per backend and operation, and their ratio."""
    rows = [("backend", "operation", "sqlqueue msg/s", "floor msg/s", "sqlqueue/floor")]
    for name, res in results.items():
        rows += [(name, op, *ratio_cells(res, "sqlqueue", "floor", op)) for op in OPERATIONS]
    print(markdown(rows))
    print_spread(results, SIDES)


def main(argv: list[str] | None = None) -> int:
    parser = cli.bench_parser(__doc__, "sqlite,postgresql,mysql", "sqlqueue_bench")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the sqlqueue side"
    )
    args = cli.parse(parser, argv)
    print(
        f"sqlqueue storage bench: {args.messages} messages per workload, best of {args.rounds}"
        f" rounds; {environment(sqlalchemy=sa.__version__, sqlite=sqlite3.sqlite_version)}"
    )

    def bench(db: Database) -> Results:
        with floor_backend(db) as backend:
            print(f"{db.backend}: server {db.server_version}", flush=True)
            profiler = cProfile.Profile() if args.profile else None
            results = bench_backend(backend, args.rounds, args.messages, profiler)
            if profiler is not None:
                print_profile(f"the sqlqueue side on {db.backend}", profiler)
            return results

    return cli.finish(cli.run_backends(args, bench), print_table)


if __name__ == "__main__":
    sys.exit(main())
