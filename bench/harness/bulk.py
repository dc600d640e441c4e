"""Deep queues in seconds: bulk SQL loading, statistics, PostgreSQL's background work off.

Used by the depth benches (``depth_bench.py``, ``gc_depth_bench.py``), which need
a million rows and cannot post them through the API in reasonable time.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

NUMBERS = (
    "WITH RECURSIVE d(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM d WHERE x < 999) "
    "SELECT a.x + 1000 * b.x + 1000000 * c.x AS n FROM d a CROSS JOIN d b CROSS JOIN d c "
    "WHERE b.x <= {b} AND c.x <= {c}"
)
"""0, 1, 2, ... on every backend (a recursive CTE of 1,000 rows, cross-joined)."""
BODY = '{"event":"depth-bench","payload":"' + "x" * 64 + '"}'
CHUNK = 250_000
"""Rows per INSERT ... SELECT (one transaction each)."""
CHURNING = ("queues", "messages", "claims", "queue_counters", "deliveries")
DAY_MS = 86_400_000


def queue_id(engine: Engine, project: str, name: str) -> int:
    """The key of queue ``name`` of ``project``."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT id FROM queues WHERE project = :p AND name = :n"),
            {"p": project, "n": name},
        ).scalar_one()
    return int(found)


def load(
    engine: Engine,
    queue: int,
    first: int,
    count: int,
    *,
    created: int,
    expires: int | None = None,
    counted: bool = True,
) -> None:
    """Insert ``count`` messages with markers ``first``... in a few statements.

    ``created`` and ``expires`` are epoch milliseconds (``expires`` defaults to a
    day after ``created``). ``counted``: add them to the queue's row count, as a
    post would (leave it false for rows deleted behind the counters' back).
    """
    expires = created + DAY_MS if expires is None else expires
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        numbers = NUMBERS.format(b=size // 1000, c=size // 1_000_000)
        sql = (
            "INSERT INTO messages (queue_id, marker, body, client_id, ttl, created_at,"
            " expires_at, delay_until, claim_id, claim_expires, claim_count)"
            f" SELECT {queue}, {first + start} + n, '{BODY}', 'loader', 86400, {created},"
            f" {expires}, {created}, NULL, 0, 0 FROM ({numbers}) AS numbers WHERE n < {size}"
        )
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE queues SET next_marker = :next WHERE id = :q AND next_marker < :next"),
            {"next": first + count, "q": queue},
        )
        if counted:
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
        prefix = "" if backend == "postgresql" else "TABLE "
        for table in CHURNING:
            conn.exec_driver_sql(f"ANALYZE {prefix}{table}")


def autovacuum_off(engine: Engine) -> None:
    """PostgreSQL: no autovacuum on sqlqueue's churning tables (as on this machine)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in CHURNING:
            conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


def wait_for_dead_rows(engine: Engine, table: str, dead: int, timeout: float = 15.0) -> int:
    """PostgreSQL: wait until ``pg_stat_user_tables`` counts ``dead`` dead rows in ``table``.

    A session publishes its counts when idle, up to a second or so later (and at
    exit): the maintenance step reads them. Returns the dead rows last seen.
    """
    query = sa.text("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = :t")
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            seen = int(conn.execute(query, {"t": table}).scalar_one())
        if seen >= dead or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)
