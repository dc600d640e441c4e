"""Non-durable pools: post x1 with and without ``persist``, in one run.

A pool registered with the option ``persist`` false (the seed's
non-durable flavor, docs/scaling.md) opens sessions that commit without
waiting for the disk: PostgreSQL ``synchronous_commit = off``, SQLite
``synchronous = OFF``. This bench posts one message per call through two
``SqlDataDriver`` on the same fresh database, one durable (the floor) and
one not, in interleaved rounds (the side that goes first alternates), with
``--producers`` threads per side, and prints the best rate of each side and
their ratio. MySQL has no per-session switch (a non-durable MySQL pool is
refused), so it is not a backend here.

Usage::

    python bench/persist_bench.py [--backends postgresql,sqlite] [--messages N]
                                  [--rounds R] [--producers P]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from harness import cli
from harness.databases import Database
from harness.report import environment, markdown, ratio_cells
from harness.rounds import Results, interleaved_rounds
from harness.timing import Latencies, Phase, run_threads, timed_call
from harness.workload import MESSAGE_TTL, bodies

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver

PROJECT = "persist-bench"
CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"
OP = "post x1"


@dataclass
class Side:
    """One driver: durable (``persist``) or not."""

    name: str
    driver: SqlDataDriver
    producers: int

    def close(self) -> None:
        """Nothing per thread: the driver's pool is shared."""


def run_round(side: Side, queue: str, messages: int) -> dict[str, Phase]:
    """``messages`` posts of one message, spread over the side's producers."""
    each = messages // side.producers

    def work(client: Side, index: int, latencies: Latencies, deadline: float) -> list[int]:
        for body in bodies(index * each, each):
            batch = [NewMessage(body, ttl=MESSAGE_TTL)]
            timed_call(latencies, OP, side.driver.messages.post, PROJECT, queue, batch, CLIENT)
        return []

    total = each * side.producers
    phase, _ = run_threads(side.name, side.producers, total, lambda: side, work, 600)
    return {OP: phase}


def bench(db: Database, args: argparse.Namespace) -> Results:
    """Both sides on ``db``; durable first in round one."""
    producers = int(args.producers)
    sides = [
        Side("durable", SqlDataDriver.from_url(db.url, persist=True), producers),
        Side("non-durable", SqlDataDriver.from_url(db.url, persist=False), producers),
    ]
    try:
        return interleaved_rounds(db.backend, sides, args.rounds, args.messages, run_round)
    finally:
        for side in sides:
            side.driver.close()


def print_tables(results: dict[str, Results]) -> None:
    """Best post x1 rate per side and non-durable / durable."""
    rows = [["backend", "durable msg/s", "non-durable msg/s", "non-durable / durable"]]
    for backend, found in results.items():
        fast, slow, ratio = ratio_cells(found, "non-durable", "durable", OP)
        rows.append([backend, slow, fast, ratio])
    print(markdown(rows))


def main(argv: list[str] | None = None) -> int:
    """Run the bench; the exit status."""
    parser = cli.bench_parser(__doc__, "postgresql,sqlite", "sqlqueue_persist_bench")
    parser.add_argument("--producers", type=int, default=4, help="threads per side (default 4)")
    args = cli.parse(parser, argv, ("producers",))
    print(environment())
    results = cli.run_backends(args, lambda db: bench(db, args))
    return cli.finish(results, print_tables)


if __name__ == "__main__":
    sys.exit(main())
