"""Depth benchmark: hot operations on a shallow and a deep queue, beside churn.

For each backend two fresh databases are created and migrated, then filled
with bulk SQL (``INSERT … SELECT`` over generated numbers, no API calls),
and measured through ``SqlDataDriver`` (storage time, no HTTP):

* the *floor* database holds one queue of ``--small`` messages and nothing
  else: situation ``1k``;
* the *deep* database holds the same small queue beside a queue of
  ``--messages``: situations ``1k + 1M neighbour`` and ``1M``;
* then ``--dead`` messages are posted to the deep queue ahead of its live
  ones and consumed (deleted), leaving dead rows at the head of its index
  on PostgreSQL (autovacuum is off for the tables): situations
  ``1k + dead`` and ``1M + dead``, measured beside a fresh ``1k`` floor.

Within each phase the situations take turns round by round (the start
rotates), so a busy machine slows them alike. Each round times ``stats``,
``list`` (10), ten ``post 1``, ``claim 10`` and the ten deletes of the
claimed messages (with the claim id), so every queue keeps its depth. The
table gives p50/p99 in milliseconds and each operation's p50 divided by its
p50 at ``1k`` in the same phase. Targets (issue 11): every ratio at most
1.3; stats at 1M under 5 ms on PostgreSQL.

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
from sqlalchemy import event
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


Situation = tuple[str, SqlDataDriver, str]


def one_round(driver: SqlDataDriver, queue: str, out: Samples) -> None:
    """stats, list, 10 x post 1, claim 10 and its 10 deletes; ms per call into ``out``."""
    m, c = driver.messages, driver.claims
    timed(out["stats"], lambda: driver.queues.stats(PROJECT, queue))
    timed(out["list"], lambda: m.list(PROJECT, queue, limit=10))
    for _ in range(10):
        timed(out["post 1"], lambda: m.post(PROJECT, queue, [NewMessage({"n": 1})], "bench"))
    claim_id, taken = timed(
        out["claim 10"], lambda: c.create(PROJECT, queue, ttl=300, grace=60, limit=10)
    )
    for message in taken:
        timed(
            out["delete"], lambda mid=message.id, cid=claim_id: m.delete(PROJECT, queue, mid, cid)
        )


def measure(situations: list[Situation], rounds: int) -> dict[str, Samples]:
    """Interleaved rounds over the situations, after 3 untimed warm-up rounds each."""
    results: dict[str, Samples] = {
        label: {op: [] for op in OPERATIONS} for label, _, _ in situations
    }
    for number in range(rounds + 3):
        shift = number % len(situations)
        for label, driver, queue in situations[shift:] + situations[:shift]:
            out = results[label] if number >= 3 else {op: [] for op in OPERATIONS}
            one_round(driver, queue, out)
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
                plan = cursor.fetchone()[0][0]
                total += plan["Planning Time"] + plan["Execution Time"]
            totals.append(total)
        raw.rollback()
    finally:
        raw.close()
    return statistics.median(totals)


def check_counts(driver: SqlDataDriver, queue: str, expected: int) -> None:
    stats = driver.queues.stats(PROJECT, queue)
    if stats.total != expected or stats.claimed != 0:
        sys.exit(f"stats of {queue}: total {stats.total}, claimed {stats.claimed}; want {expected}")


def prepare(url: str) -> tuple[Engine, SqlDataDriver]:
    """A migrated database with autovacuum off (PostgreSQL) and the two queues."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("queues", "messages", "claims"):
                conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    driver = SqlDataDriver(engine)
    for name in (SMALL, BIG):
        driver.queues.create(PROJECT, name)
    return engine, driver


def bench_backend(backend: str, args: argparse.Namespace) -> list[dict[str, Samples]]:
    with (
        database(backend, args.urls, args.db_name + "_floor") as floor_url,
        database(backend, args.urls, args.db_name) as deep_url,
    ):
        floor_engine, floor = prepare(floor_url)
        engine, deep = prepare(deep_url)
        now = deep.db.now_ms()
        small, big = queue_id(engine, SMALL), queue_id(engine, BIG)
        started = time.perf_counter()
        bulk_load(floor_engine, queue_id(floor_engine, SMALL), 1, args.small, now)
        bulk_load(engine, small, 1, args.small, now)
        bulk_load(engine, big, args.dead + 1, args.messages, now)
        analyze(floor_engine)
        analyze(engine)
        print(f"  {backend}: loaded {args.messages:,} in {time.perf_counter() - started:.0f} s")
        phases = [
            measure(
                [("1k", floor, SMALL), ("1k + 1M neighbour", deep, SMALL), ("1M", deep, BIG)],
                args.rounds,
            )
        ]
        if args.dead:
            bulk_load(engine, big, 1, args.dead, now, counted=False)
            with engine.begin() as conn:  # consumed: deleted, never vacuumed
                conn.execute(
                    sa.text("DELETE FROM messages WHERE queue_id = :q AND marker <= :m"),
                    {"q": big, "m": args.dead},
                )
            analyze(engine)
            phases.append(
                measure(
                    [("1k", floor, SMALL), ("1k + dead", deep, SMALL), ("1M + dead", deep, BIG)],
                    args.rounds,
                )
            )
        if backend == "postgresql":
            server = [
                f"{label} {stats_server_ms(driver, queue):.2f} ms"
                for label, driver, queue in (("1k", floor, SMALL), ("1M + dead", deep, BIG))
            ]
            print(f"  {backend}: stats server time (planning + execution): {', '.join(server)}")
        check_counts(floor, SMALL, args.small)
        check_counts(deep, SMALL, args.small)
        check_counts(deep, BIG, args.messages)
        floor.close()
        deep.close()
    return phases


def print_table(backend: str, phases: list[dict[str, Samples]]) -> None:
    print(f"\n### {backend}\n")
    print("| situation | " + " | ".join(OPERATIONS) + " |")
    print("|---|" + "---|" * len(OPERATIONS))
    for results in phases:
        print_phase(results)


def print_phase(results: dict[str, Samples]) -> None:
    floor = {op: statistics.median(results["1k"][op]) for op in OPERATIONS}
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
