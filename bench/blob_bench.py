"""Big bodies routed to a blob store: small-message claim+delete beside a 200 KB queue.

One pool database holds a queue of small messages and a queue of 200 KB
messages. While a producer posts and a consumer claims and deletes the big
messages (one at a time, without pause), ``--consumers`` threads claim ten
small messages at a time and delete each with its claim id until their queue
is empty; the rate is small messages per second. The big traffic runs in a
process of its own (as other server workers would), so that it competes for
the database and the CPU, not for this process's GIL. Three sides take turns
on the same pool, each through its own ``SqlDataDriver``:

* ``inline`` (the floor): no blob store; the big queue keeps its bodies in
  its rows, as before this feature;
* ``routed-db``: the big queue has ``_blob_threshold`` 1024 and a second
  database of the same server is the blob store;
* ``routed-file``: the same with a directory as the blob store.

The small queue has no threshold on every side. The big queue of each side
starts ``--big-depth`` messages deep. Every small message must be consumed
once (checked). The big producer posts and the big consumer claims and
deletes ``--big-rate`` messages a second each (the same load on every side;
the table shows the rate the consumer kept up).
The table gives the best and the median round of each side and their ratios
to ``inline``'s, and the big messages consumed per second meanwhile (median).

Usage::

    python bench/blob_bench.py [--backends postgresql,sqlite,mysql] [--messages N]
                               [--rounds R] [--consumers C] [--big-depth D]
                               [--sides inline,routed-db,routed-file]
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from harness import cli
from harness.databases import Database, fresh_database
from harness.report import environment, markdown
from harness.rounds import Results, interleaved_rounds
from harness.timing import Latencies, Phase, run_threads, timed_call
from harness.workload import BATCH, CLAIM_LIMIT, MESSAGE_TTL, BenchError, bodies

from sqlqueue.domain.bodies import BodyCodec
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.blobs import BlobStore, FileBlobStore
from sqlqueue.storage.sql.blobstore import SqlBlobStore
from sqlqueue.storage.sql.driver import SqlDataDriver

PROJECT = "blob-bench"
CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"
OP = "claim10+delete"
BIG_OP = "big msg/s"
BIG = {"blob": base64.b64encode(random.Random(14).randbytes(150_000)).decode()}
"""200 KB, incompressible, the same in every process."""
SIDES = ("inline", "routed-db", "routed-file")


@dataclass(frozen=True)
class BigLoad:
    """The big-message traffic of one side: its pool, blob store and queue."""

    url: str
    store: str
    """"" (none), ``file://<dir>`` or the blob database's URL."""
    queue: str
    rate: float


@dataclass
class Side:
    """One side: its driver (small consumers) and its big traffic (another process)."""

    name: str
    driver: SqlDataDriver
    consumers: int
    load: BigLoad

    def close(self) -> None:
        """Nothing per thread: the driver's pool is shared."""


def open_store(where: str) -> BlobStore | None:
    """The blob store ``where`` names (see ``BigLoad.store``)."""
    if not where:
        return None
    if where.startswith("file://"):
        return FileBlobStore(where[len("file://") :])
    return SqlBlobStore.from_url(where)


def big_traffic(driver: SqlDataDriver, load: BigLoad, stop: Any, moved: Any) -> None:
    """Post, and claim and delete, ``load.rate`` big messages a second each, until ``stop``."""
    period = 1 / load.rate

    def produce() -> None:
        due = time.monotonic()
        while not stop.is_set():
            batch = [NewMessage(BIG, ttl=MESSAGE_TTL)]
            driver.messages.post(PROJECT, load.queue, batch, CLIENT)
            due += period
            stop.wait(max(0.0, due - time.monotonic()))

    def consume() -> None:
        due = time.monotonic()
        while not stop.is_set():
            due += period
            stop.wait(max(0.0, due - time.monotonic()))
            claims = driver.claims
            claim_id, found = claims.create(PROJECT, load.queue, ttl=300, grace=60, limit=1)
            for message in found:
                if message.body != BIG:
                    raise BenchError("a big message came back changed")
                driver.messages.delete(PROJECT, load.queue, message.id, claim_id)
                with moved.get_lock():
                    moved.value += 1

    threads = [threading.Thread(target=f, daemon=True) for f in (produce, consume)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def big_process(load: BigLoad, ready: Any, stop: Any, moved: Any) -> None:
    """The big traffic in a process of its own (as another server worker would run it)."""
    options = StorageOptions(bodies=BodyCodec(), blobs=open_store(load.store))
    driver = SqlDataDriver.from_url(load.url, options=options)
    driver.queues.get_metadata(PROJECT, load.queue)  # connected before the clock starts
    ready.set()
    try:
        big_traffic(driver, load, stop, moved)
    finally:
        driver.close()


@contextmanager
def big_running(load: BigLoad) -> Iterator[Any]:
    """The big traffic running in another process; yields its count of messages moved.

    A rate of 0: no big traffic (the small path alone, with and without a blob store).
    """
    ctx = multiprocessing.get_context("spawn")
    if load.rate <= 0:
        yield ctx.Value("i", 0)
        return
    ready, stop, moved = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
    child = ctx.Process(target=big_process, args=(load, ready, stop, moved), daemon=True)
    child.start()
    try:
        if not ready.wait(60):
            raise BenchError("the big traffic did not start")
        yield moved
    finally:
        stop.set()
        child.join(60)


def run_round(side: Side, queue: str, count: int) -> dict[str, Phase]:
    """Fill ``queue`` with ``count`` small messages, then consume them beside big traffic."""
    for start in range(0, count, BATCH):
        batch = [NewMessage(b, ttl=MESSAGE_TTL) for b in bodies(start, BATCH)]
        side.driver.messages.post(PROJECT, queue, batch, CLIENT)

    def work(client: Side, index: int, latencies: Latencies, deadline: float) -> list[int]:
        seqs: list[int] = []
        claims, messages = side.driver.claims, side.driver.messages
        while True:
            claim_id, found = timed_call(
                latencies, "claim", claims.create, PROJECT, queue, ttl=300, grace=60,
                limit=CLAIM_LIMIT,
            )  # fmt: skip
            if not found:
                return seqs
            for message in found:
                timed_call(latencies, "delete", messages.delete, PROJECT, queue, message.id,
                           claim_id)  # fmt: skip
                seqs.append(message.body["seq"])

    with big_running(side.load) as moved:
        phase, seqs = run_threads(side.name, side.consumers, count, lambda: side, work, 600)
        big = moved.value
    got = sorted(seqs)
    if got != list(range(count)):
        raise BenchError(f"{side.name}: {len(got)} small messages consumed of {count}")
    return {OP: phase, BIG_OP: Phase(phase.seconds, big)}


@contextmanager
def blob_stores(db: Database, args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """The blob store of each side (``BigLoad.store``): none, a second database, a directory."""
    with ExitStack() as stack:
        stores = {"inline": ""}
        names = [name.strip() for name in args.sides.split(",")]
        if "routed-db" in names:
            second = stack.enter_context(
                fresh_database(db.backend, cli.server_urls(args), args.db_name + "_blobs")
            )
            stores["routed-db"] = second.url
        if "routed-file" in names:
            where = stack.enter_context(tempfile.TemporaryDirectory(prefix="sqlqueue-blobs-"))
            stores["routed-file"] = f"file://{where}"
        yield {name: stores[name] for name in names}


def make_side(db: Database, name: str, store: str, args: argparse.Namespace) -> Side:
    """A driver on the pool, its big queue created (with a threshold when routed) and filled."""
    options = StorageOptions(bodies=BodyCodec(), blobs=open_store(store))
    driver = SqlDataDriver.from_url(db.url, options=options)
    big = f"big-{name}"
    driver.queues.create(PROJECT, big, {"_blob_threshold": 1024} if store else {})
    for _ in range(args.big_depth):
        driver.messages.post(PROJECT, big, [NewMessage(BIG, ttl=MESSAGE_TTL)], CLIENT)
    return Side(name, driver, args.consumers, BigLoad(db.url, store, big, args.big_rate))


def bench(db: Database, args: argparse.Namespace) -> Results:
    """Every side on ``db``, in interleaved rounds."""
    print(f"{db.backend}: server {db.server_version}", flush=True)
    with blob_stores(db, args) as stores:
        sides = [make_side(db, name, store, args) for name, store in stores.items()]
        try:
            return interleaved_rounds(db.backend, sides, args.rounds, args.messages, run_round)
        finally:
            for side in sides:
                side.driver.close()


def median(results: Results, side: str, op: str) -> float:
    """The median round's messages per second (the best is at the mercy of a quiet moment)."""
    return statistics.median(phase.rate for phase in results.phases[(side, op)])


def print_tables(results: dict[str, Results]) -> None:
    """Small claim+delete rate per side (best and median round) and its ratio to inline;
    the big messages consumed per second meanwhile."""
    rows = [["backend", "side", "best msg/s", "/ inline", "median msg/s", "/ inline", "big msg/s"]]
    for backend, found in results.items():
        floor_best, floor_median = found.best("inline", OP), median(found, "inline", OP)
        for side in SIDES:
            if (side, OP) not in found.phases:
                continue
            best, middle = found.best(side, OP), median(found, side, OP)
            rows.append(
                [
                    backend,
                    side,
                    f"{best:,.0f}",
                    f"{best / floor_best:.2f}",
                    f"{middle:,.0f}",
                    f"{middle / floor_median:.2f}",
                    f"{median(found, side, BIG_OP):,.0f}",
                ]
            )
    print(markdown(rows))


def main(argv: list[str] | None = None) -> int:
    """Run the bench; the exit status."""
    parser = cli.bench_parser(__doc__, "postgresql", "sqlqueue_blob_bench")
    parser.add_argument("--consumers", type=int, default=4, help="small consumers (default 4)")
    parser.add_argument("--big-depth", type=int, default=100, help="big messages at the start")
    parser.add_argument(
        "--big-rate",
        type=float,
        default=20.0,
        help="big messages posted (and consumed) a second; 0: none (default 20)",
    )
    parser.add_argument("--sides", default=",".join(SIDES), help="of " + ",".join(SIDES))
    args = cli.parse(parser, argv, ("consumers",))
    if not args.sides.startswith("inline"):
        parser.error("--sides must start with inline (the floor)")
    print(environment())
    return cli.finish(cli.run_backends(args, lambda db: bench(db, args)), print_tables)


if __name__ == "__main__":
    sys.exit(main())
