"""Depth benchmark: hot operations on a shallow and a deep queue, beside churn.

For each backend a fresh database is created and migrated, then filled with
bulk SQL (one ``INSERT … SELECT`` over generated numbers, no API calls) and
measured through ``SqlDataDriver`` (storage time, no HTTP), in five
situations that build on each other:

1. ``1k``: a queue of ``--small`` messages, nothing else in the tables;
2. ``1k + 1M neighbour``: the same queue beside a queue of ``--messages``;
3. ``1M``: the deep queue itself;
4. ``1M + dead``: ``--dead`` messages posted to the deep queue ahead of its
   live ones and consumed (deleted), leaving dead rows at the head of its
   index on PostgreSQL (autovacuum is turned off for the tables);
5. ``1k + dead``: the small queue again, with those dead rows in the table.

Each round times ``stats``, ``list`` (10), ten ``post 1``, ``claim 10`` and
the ten deletes of the claimed messages (with the claim id), so a queue
keeps its depth. The table gives p50/p99 in milliseconds, and each
operation's p50 divided by its p50 at ``1k`` (the floor, measured in the
same run). Targets (issue 11): every ratio at most 1.3; stats at 1M under
5 ms on PostgreSQL.

Usage::

    python bench/depth_bench.py [--backends sqlite,postgresql,mysql]
        [--messages 1000000] [--small 1000] [--dead N] [--rounds 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine

PROJECT = "depth"
SMALL, BIG = "small", "big"
OPERATIONS = ("stats", "list", "post 1", "claim 10", "delete")
DEFAULT_URLS = {
    "postgresql": os.environ.get(
        "SQLQUEUE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"
    ),
    "mysql": os.environ.get("SQLQUEUE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
}
NUMBERS = (
    "WITH RECURSIVE d(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM d WHERE x < 999) "
    "SELECT a.x + 1000 * b.x + 1000000 * c.x AS n FROM d a CROSS JOIN d b CROSS JOIN d c "
    "WHERE b.x <= {b} AND c.x <= {c}"
)
BODY = '{"event":"depth-bench","payload":"' + "x" * 64 + '"}'
CHUNK = 250_000


@contextmanager
def database(backend: str, urls: dict[str, str], name: str) -> Iterator[str]:
    """A fresh, empty database on ``backend``; dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/depth.db"
        return
    url = make_url(urls[backend])
    quote = '"' if backend == "postgresql" else "`"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}")
        conn.exec_driver_sql(f"CREATE DATABASE {quote}{name}{quote}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}")
        admin.dispose()


def queue_id(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT id FROM queues WHERE project = :p AND name = :n"),
            {"p": PROJECT, "n": name},
        ).scalar_one()
    return int(found)


def has_row_counter(engine: Engine) -> bool:
    """Whether the schema counts message rows per queue (migration 0005 on)."""
    return "message_rows" in {c["name"] for c in sa.inspect(engine).get_columns("queues")}


def bulk_load(
    engine: Engine, queue: int, first: int, count: int, now: int, *, counted: bool = True
) -> None:
    """Insert ``count`` fresh messages with markers ``first``… in a few statements."""
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        numbers = NUMBERS.format(b=size // 1000, c=size // 1_000_000)
        sql = (
            "INSERT INTO messages (queue_id, marker, body, client_id, ttl, created_at,"
            " expires_at, delay_until, claim_id, claim_expires, claim_count)"
            f" SELECT {queue}, {first + start} + n, '{BODY}', 'loader', 86400, {now},"
            f" {now + 86_400_000}, {now}, NULL, 0, 0 FROM ({numbers}) AS numbers"
            f" WHERE n < {size}"
        )
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE queues SET next_marker = :next WHERE id = :q AND next_marker < :next"),
            {"next": first + count, "q": queue},
        )
        if counted and has_row_counter(engine):
            conn.execute(
                sa.text("UPDATE queues SET message_rows = message_rows + :n WHERE id = :q"),
                {"n": count, "q": queue},
            )


def analyze(engine: Engine) -> None:
    """Fresh planner statistics (PostgreSQL: ANALYZE only, dead rows stay)."""
    backend = engine.dialect.name
    with engine.begin() as conn:
        if backend == "sqlite":
            conn.exec_driver_sql("ANALYZE")
            return
        for table in ("queues", "messages", "claims"):
            conn.exec_driver_sql(f"ANALYZE {'TABLE ' if backend != 'postgresql' else ''}{table}")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Samples = dict[str, list[float]]


def timed(samples: list[float], step: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = step()
    samples.append((time.perf_counter() - start) * 1000)
    return result


def measure(driver: SqlDataDriver, queue: str, rounds: int) -> Samples:
    """Rounds of stats, list, 10 × post 1, claim 10 and 10 deletes; ms per call."""
    samples: Samples = {op: [] for op in OPERATIONS}
    m, c = driver.messages, driver.claims
    for number in range(rounds + 3):
        out: Samples = {op: [] for op in OPERATIONS} if number < 3 else samples  # warm-up
        timed(out["stats"], lambda: driver.queues.stats(PROJECT, queue))
        timed(out["list"], lambda: m.list(PROJECT, queue, limit=10))
        for _ in range(10):
            timed(out["post 1"], lambda: m.post(PROJECT, queue, [NewMessage({"n": 1})], "bench"))
        claim_id, taken = timed(
            out["claim 10"], lambda: c.create(PROJECT, queue, ttl=300, grace=60, limit=10)
        )
        for message in taken:
            timed(out["delete"], lambda mid=message.id: m.delete(PROJECT, queue, mid, claim_id))
    return samples


def check_counts(driver: SqlDataDriver, queue: str, expected: int) -> None:
    stats = driver.queues.stats(PROJECT, queue)
    if stats.total != expected or stats.claimed != 0:
        sys.exit(f"stats of {queue}: total {stats.total}, claimed {stats.claimed}; want {expected}")


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Samples]:
    results: dict[str, Samples] = {}
    with database(backend, args.urls, args.db_name) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        if backend == "postgresql":
            with engine.begin() as conn:
                for table in ("queues", "messages", "claims"):
                    conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        driver = SqlDataDriver(engine)
        now = driver.db.now_ms()
        for name in (SMALL, BIG):
            driver.queues.create(PROJECT, name)
        small, big = queue_id(engine, SMALL), queue_id(engine, BIG)
        started = time.perf_counter()
        bulk_load(engine, small, 1, args.small, now)
        analyze(engine)
        results["1k"] = measure(driver, SMALL, args.rounds)
        bulk_load(engine, big, args.dead + 1, args.messages, now)
        analyze(engine)
        print(f"  {backend}: loaded {args.messages:,} in {time.perf_counter() - started:.0f} s")
        results["1k + 1M neighbour"] = measure(driver, SMALL, args.rounds)
        results["1M"] = measure(driver, BIG, args.rounds)
        if args.dead:
            bulk_load(engine, big, 1, args.dead, now, counted=False)
            with engine.begin() as conn:  # consumed: deleted, never vacuumed
                conn.execute(
                    sa.text("DELETE FROM messages WHERE queue_id = :q AND marker <= :m"),
                    {"q": big, "m": args.dead},
                )
            analyze(engine)
            results["1M + dead"] = measure(driver, BIG, args.rounds)
            results["1k + dead"] = measure(driver, SMALL, args.rounds)
        check_counts(driver, SMALL, args.small)
        check_counts(driver, BIG, args.messages)
        driver.close()
    return results


def print_table(backend: str, results: dict[str, Samples]) -> None:
    floor = {op: statistics.median(results["1k"][op]) for op in OPERATIONS}
    print(f"\n### {backend}\n")
    print("| situation | " + " | ".join(OPERATIONS) + " |")
    print("|---|" + "---|" * len(OPERATIONS))
    for situation, samples in results.items():
        cells = []
        for op in OPERATIONS:
            p50, p99 = statistics.median(samples[op]), percentile(samples[op], 0.99)
            ratio = "" if situation == "1k" else f" ({p50 / floor[op]:.2f}x)"
            cells.append(f"{p50:.2f} / {p99:.2f}{ratio}")
        print(f"| {situation} | " + " | ".join(cells) + " |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql,mysql")
    parser.add_argument("--messages", type=int, default=1_000_000, help="deep queue size")
    parser.add_argument("--small", type=int, default=1000, help="shallow queue size")
    parser.add_argument("--dead", type=int, help="consumed rows left behind (0.3 x messages)")
    parser.add_argument("--rounds", type=int, default=60, help="timed rounds per situation")
    parser.add_argument("--postgres-url", default=DEFAULT_URLS["postgresql"])
    parser.add_argument("--mysql-url", default=DEFAULT_URLS["mysql"])
    parser.add_argument("--db-name", default="sqlqueue_depthbench")
    args = parser.parse_args(argv)
    if args.dead is None:
        args.dead = int(args.messages * 0.3)
    args.urls = {"postgresql": args.postgres_url, "mysql": args.mysql_url}
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(
        f"depth bench: {args.small:,} vs {args.messages:,} messages, {args.dead:,} dead rows,"
        f" {args.rounds} rounds; p50 / p99 ms (p50 ÷ p50 at 1k)"
    )
    for backend in args.backends.split(","):
        try:
            results = bench_backend(backend, args)
        except sa.exc.OperationalError as ex:
            print(f"  {backend}: skipped ({ex.orig})")
            continue
        print_table(backend, results)


if __name__ == "__main__":
    main()
