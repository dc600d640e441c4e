"""The write pause of a live queue move, against the floor of one post, in one run.

For each route (source backend -> target backend) and queue depth, a queue
is filled with ``depth`` messages (a tenth of them claimed), then moved with
``MoveAdmin.move`` while a producer thread keeps posting one message per
call through a second storage (its cached placement names the source, so
its first post after the move follows the tombstone). Printed per move:

* ``pause``: how long the mover held the source queue's locks (its own
  measure, ``MoveResult.pause_ms``);
* ``slowest post``: the longest post the producer saw during the move;
* ``post x1``: the producer's median post before the move (the floor), and
  the ratio slowest post / post x1.

With ``--repeat N`` each depth is moved N times (a fresh queue each time)
and the medians of the three figures are printed (the machine is shared:
one move can meet someone else's burst).

Usage::

    python bench/move_bench.py [--routes postgresql:mysql,mysql:postgresql,sqlite:postgresql]
                               [--depths 100,1000,10000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

from harness.cli import add_database_flags, require_positive, server_urls
from harness.databases import fresh_database
from harness.report import environment, markdown

from sqlqueue.bootstrap import Storage, create_storage
from sqlqueue.config import Settings
from sqlqueue.domain.models import NewMessage

PROJECT = "move-bench"
CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"
FILL = 100


@dataclass
class Row:
    """One measured move."""

    route: str
    depth: int
    pause_ms: float
    slowest_ms: float
    floor_ms: float


def fill(storage: Storage, queue: str, depth: int) -> None:
    """``depth`` messages, a tenth of them claimed."""
    driver = storage.store.placing(PROJECT, queue)
    for start in range(0, depth, FILL):
        batch = [NewMessage({"n": n}, ttl=3600) for n in range(start, min(depth, start + FILL))]
        driver.messages.post(PROJECT, queue, batch, CLIENT)
    driver.claims.create(PROJECT, queue, ttl=300, grace=60, limit=max(1, depth // 10))


def post_once(storage: Storage, queue: str) -> float:
    """One post of one message; its latency in ms."""
    started = time.perf_counter()
    batch = [NewMessage({"x": 1}, ttl=3600)]
    storage.store.at(PROJECT, queue).messages.post(PROJECT, queue, batch, CLIENT)
    return (time.perf_counter() - started) * 1000


def measure(
    mover: Storage, producer: Storage, route: str, depth: int, target: str, queue: str
) -> Row:
    """Fill a queue, take the floor, then move it under a posting thread."""
    fill(mover, queue, depth)
    floor = statistics.median(post_once(producer, queue) for _ in range(30))
    during: list[float] = []
    done = threading.Event()

    def produce() -> None:
        while not done.is_set():
            during.append(post_once(producer, queue))

    thread = threading.Thread(target=produce)
    thread.start()
    time.sleep(0.2)
    try:
        result = mover.admin.moves.move(PROJECT, queue, target)
    finally:
        time.sleep(0.2)
        done.set()
        thread.join()
    return Row(route, depth, result.pause_ms, max(during), floor)


def bench_route(args: argparse.Namespace, route: str, depths: list[int]) -> list[Row]:
    """Every depth over one (source, target) pair of fresh databases."""
    source, target = route.split(":")
    with ExitStack() as stack:
        urls = server_urls(args)
        src = stack.enter_context(fresh_database(source, urls, f"{args.db_name}_src"))
        dst = stack.enter_context(fresh_database(target, urls, f"{args.db_name}_dst"))
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="move-bench-"))
        settings = Settings(
            database_url=f"sqlite:///{tmp}/catalogue.db", catalogue_cache_seconds=60
        )
        mover, producer = create_storage(settings), create_storage(settings)
        stack.callback(mover.close)
        stack.callback(producer.close)
        mover.admin.pools.put("source", uri=src.url, weight=1)
        mover.admin.pools.put("target", uri=dst.url, weight=0)  # nothing placed there
        found = []
        for depth in depths:
            runs = [
                measure(mover, producer, route, depth, "target", f"q{depth}-{n}")
                for n in range(args.repeat)
            ]
            found.append(
                Row(
                    route,
                    depth,
                    statistics.median(r.pause_ms for r in runs),
                    statistics.median(r.slowest_ms for r in runs),
                    statistics.median(r.floor_ms for r in runs),
                )
            )
        return found


def main(argv: list[str] | None = None) -> int:
    """Run the bench; the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_database_flags(parser, "", "sqlqueue_move_bench")
    parser.add_argument("--routes", default="postgresql:mysql,mysql:postgresql,sqlite:postgresql")
    parser.add_argument("--depths", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=1, help="moves per depth (medians)")
    args = parser.parse_args(argv)
    require_positive(parser, args, ("repeat",))
    depths = [int(d) for d in args.depths.split(",")]
    print(environment())
    rows = [["route", "depth", "pause ms", "slowest post ms", "post x1 ms", "slowest / post x1"]]
    for route in args.routes.split(","):
        for row in bench_route(args, route, depths):
            rows.append(
                [
                    row.route.replace(":", " -> "),
                    str(row.depth),
                    f"{row.pause_ms:.0f}",
                    f"{row.slowest_ms:.0f}",
                    f"{row.floor_ms:.1f}",
                    f"{row.slowest_ms / row.floor_ms:.0f}x",
                ]
            )
    print()
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
