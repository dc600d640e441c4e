"""The hot statements' plans stay inside the queue's own index range.

On PostgreSQL, MySQL and SQLite, a table holds a deep queue, a shallow queue, a
queue of expired rows, expired rows inside the deep queue and (PostgreSQL)
dead rows of consumed messages; planner statistics are fresh. Every
statement that post, list, get, claim, delete, pop, stats and gc send to
the database is captured as the code issues it (SQL and parameters) and
EXPLAINed: no statement may read messages, claims or counters by a full
scan, by an index that does not start with the queue (other than a primary
key or claim-id lookup), or by a queue-first index without the queue in
its index condition.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from tests.conftest import ServerUrls

pytestmark = pytest.mark.slow

PROJECT = "plans"
DEEP, SHALLOW, STALE = "deep", "shallow", "stale"
DEEP_ROWS = 60_000
STALE_ROWS = 60_000
DEEP_EXPIRED = 10_000
DEAD_ROWS = 30_000
OTHER_ROWS = 20_000
WATCHED = ("messages", "claims", "queue_counters")
QUEUE_FIRST = {
    "uq_messages_queue_id_marker",
    "ix_messages_queue_id_expires_at",
    "ix_messages_queue_id_claim_expires",
    "ix_claims_queue_id_expires_at",
    "pk_queue_counters",
}
BY_KEY = {"pk_messages", "pk_claims", "ix_messages_claim_id"}
"""Lookups by primary key or claim id: a few rows of one queue, by construction."""
ORDERED = "uq_messages_queue_id_marker"

NUMBERS = (
    "WITH RECURSIVE d(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM d WHERE x < 999) "
    "SELECT a.x + 1000 * b.x AS n FROM d a CROSS JOIN d b WHERE b.x <= {high}"
)


def bulk_insert(engine: Engine, queue_id: int, first: int, count: int, expires: int) -> None:
    """Insert ``count`` messages with markers from ``first``, in one statement."""
    numbers = NUMBERS.format(high=count // 1000)
    sql = (
        "INSERT INTO messages (queue_id, marker, body, client_id, ttl, created_at, expires_at,"
        " delay_until, claim_id, claim_expires, claim_count)"
        f" SELECT {queue_id}, {first} + n, '{{\"n\":1}}', 'seed', 3600, 0, {expires}, 0,"
        f" NULL, 0, 0 FROM ({numbers}) AS numbers WHERE n < {count}"
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
        conn.execute(
            sa.text(
                "UPDATE queues SET next_marker = :next,"
                " message_rows = message_rows + :n WHERE id = :q"
            ),
            {"n": count, "q": queue_id, "next": first + count},
        )


def seed(engine: Engine, driver: SqlDataDriver) -> None:
    """A deep, a shallow and a stale queue; expired and dead rows; fresh statistics."""
    now = driver.db.now_ms()
    far, past = now + 3_600_000, now - 60_000
    queue_ids = {}
    for name in (DEEP, SHALLOW, STALE):
        driver.queues.create(PROJECT, name)
        with engine.connect() as conn:
            queue_ids[name] = conn.execute(
                sa.text("SELECT id FROM queues WHERE name = :n"), {"n": name}
            ).scalar_one()
    backend = engine.dialect.name
    if backend == "postgresql":  # consumed messages whose rows autovacuum has not removed
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE messages SET (autovacuum_enabled = false)")
        bulk_insert(engine, queue_ids[DEEP], 1, DEAD_ROWS, far)
        driver.messages.pop(PROJECT, DEEP, 1)  # the counters see removals too
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM messages WHERE queue_id = {queue_ids[DEEP]}")
    bulk_insert(engine, queue_ids[DEEP], 100_000, DEEP_EXPIRED, past)
    bulk_insert(engine, queue_ids[DEEP], 200_000, DEEP_ROWS, far)
    bulk_insert(engine, queue_ids[STALE], 1, STALE_ROWS, past)
    numbers = NUMBERS.format(high=OTHER_ROWS // 1000)
    claim_id = "concat('c', n)" if backend == "mysql" else "'c' || n"
    with engine.begin() as conn:  # claims and counters of many other queues
        conn.exec_driver_sql(
            "INSERT INTO claims (id, queue_id, ttl, grace, created_at, expires_at)"
            f" SELECT {claim_id}, {queue_ids[STALE]}, 60, 0, 0, {past}"
            f" FROM ({numbers}) AS numbers WHERE n < {OTHER_ROWS}"
        )
        conn.exec_driver_sql(
            "INSERT INTO queue_counters (queue_id, shard, delta)"
            " SELECT 1000 + FLOOR(n / 8), MOD(n, 8), 1"
            f" FROM ({numbers}) AS numbers WHERE n < {OTHER_ROWS}"
        )
    driver.messages.post(PROJECT, SHALLOW, [NewMessage({"n": i}) for i in range(20)], "seed")
    driver.claims.create(PROJECT, DEEP, ttl=300, grace=60, limit=500)
    with engine.begin() as conn:
        for table in ("queues", "messages", "claims", "queue_counters"):
            conn.exec_driver_sql(f"ANALYZE {'TABLE ' if backend == 'mysql' else ''}{table}")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def seeded(request: pytest.FixtureRequest, server_urls: ServerUrls) -> Iterator[SqlDataDriver]:
    """A driver on a database seeded once per backend for this module."""
    engine = make_engine(server_urls.url(str(request.param), "plans"))
    migrate.upgrade(engine)
    driver = SqlDataDriver(engine)
    seed(engine, driver)
    yield driver
    driver.close()


Captured = list[tuple[str, Any]]


def capture(work: Callable[[], object]) -> Captured:
    """The statements (SQL, parameters) ``work`` sends to any engine."""
    seen: Captured = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool):
        if not many:
            seen.append((statement, params))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    return seen


def explainable(statement: str) -> bool:
    """A statement that reads a watched table (INSERT … VALUES reads nothing)."""
    head = statement.lstrip().split(None, 1)[0].upper()
    if head not in ("SELECT", "UPDATE", "DELETE", "WITH"):
        return False
    return any(table in statement for table in WATCHED)


def pg_problems(plan: dict[str, Any], statement: str) -> list[str]:
    """What in a PostgreSQL JSON plan reads outside one queue's index range."""
    found: list[str] = []
    node_type = plan.get("Node Type", "")
    relation = plan.get("Relation Name")
    if node_type == "Seq Scan" and relation in WATCHED:
        found.append(f"Seq Scan on {relation}")
    index = plan.get("Index Name")
    if index is not None and index.split("_", 1)[1].startswith(WATCHED):
        cond = plan.get("Index Cond", "")
        if index in QUEUE_FIRST:
            if "queue_id =" not in cond:
                found.append(f"{index} without the queue in its condition ({cond!r})")
        elif index not in BY_KEY or not cond:
            found.append(f"{index} ({cond!r})")
    for child in plan.get("Plans", []):
        found += pg_problems(child, statement)
    return found


def mysql_problems(rows: list[dict[str, Any]]) -> list[str]:
    """What in a MySQL/MariaDB EXPLAIN reads outside one queue's index range."""
    found: list[str] = []
    for row in rows:
        if row["table"] not in WATCHED:
            continue
        kind = row["type"]
        if kind in ("ALL", "index") or row["key"] is None:
            found.append(f"{kind} scan of {row['table']} (key {row['key']})")
            continue
        # MariaDB's rowid filters read "key|filter key" and "len|filter len".
        for key, key_len in zip(row["key"].split("|"), row["key_len"].split("|"), strict=True):
            queue_first = key in QUEUE_FIRST or (key, row["table"]) == ("PRIMARY", "queue_counters")
            if queue_first:
                if int(key_len) < 8:  # queue_id, a BIGINT, is not part of the range
                    found.append(f"{key} without the queue (key_len {key_len})")
            elif key not in ("PRIMARY", "ix_messages_claim_id"):
                found.append(f"{key} on {row['table']}")
    return found


SQLITE_NAMES = {
    "sqlite_autoindex_messages_1": "uq_messages_queue_id_marker",
    "sqlite_autoindex_queue_counters_1": "pk_queue_counters",
    "sqlite_autoindex_claims_1": "pk_claims",
}


def sqlite_problems(details: list[str]) -> list[str]:
    """What in a SQLite query plan reads outside one queue's index range."""
    found: list[str] = []
    for detail in details:
        words = detail.split()
        if len(words) < 2 or words[0] not in ("SCAN", "SEARCH") or words[1] not in WATCHED:
            continue
        if words[0] == "SCAN" or "INDEX" not in words:
            if "INTEGER PRIMARY KEY" not in detail:
                found.append(detail)
            continue
        index = words[words.index("INDEX") + 1]
        index = SQLITE_NAMES.get(index, index)
        cond = detail.split("(", 1)[1] if "(" in detail else ""
        if index in QUEUE_FIRST:
            if not cond.startswith("queue_id="):
                found.append(detail)
        elif index not in BY_KEY:
            found.append(detail)
    return found


def explain(engine: Engine, statement: str, params: Any) -> tuple[list[str], str]:
    """Problems of one statement's plan, and the plan as text."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
            details = [row[-1] for row in cursor.fetchall()]
            return sqlite_problems(details), "\n".join(details)
        if engine.dialect.name == "postgresql":
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            return pg_problems(plan[0]["Plan"], statement), json.dumps(plan, indent=1)
        cursor.execute("EXPLAIN " + statement, params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return mysql_problems(rows), "\n".join(map(str, rows))
    finally:
        raw.rollback()
        raw.close()


def operations(driver: SqlDataDriver, queue: str) -> dict[str, Callable[[], object]]:
    """Each hot operation on ``queue``, as the API calls it."""
    m, c = driver.messages, driver.claims
    state: dict[str, Any] = {}

    def claim() -> None:
        state["claim"] = c.create(PROJECT, queue, ttl=60, grace=60, limit=10)

    def claim_extending() -> None:  # longer than the messages live: lifetimes are extended
        claim_id, _taken = c.create(PROJECT, queue, ttl=7200, grace=60, limit=2)
        c.delete(PROJECT, queue, claim_id)

    def delete_claimed() -> None:
        claim_id, taken = state["claim"]
        m.delete(PROJECT, queue, taken[0].id, claim_id=claim_id)
        m.bulk_delete(PROJECT, queue, [t.id for t in taken[1:3]], claim_ids=[claim_id])

    def get() -> None:
        listed = m.list(PROJECT, queue, echo=True)
        state["ids"] = [msg.id for msg in listed.items]
        m.get(PROJECT, queue, state["ids"][-1])

    return {
        "post": lambda: m.post(PROJECT, queue, [NewMessage({"n": 1})], "plans"),
        "list": lambda: m.list(PROJECT, queue, echo=True),
        "list claimed, by marker": lambda: m.list(
            PROJECT, queue, marker="5", include_claimed=True, client_id="other"
        ),
        "get": get,
        "claim": claim,
        "claim extending lifetimes": claim_extending,
        "claim get/update": lambda: (
            c.get(PROJECT, queue, state["claim"][0]),
            c.update(PROJECT, queue, state["claim"][0], ttl=90, grace=30),
        ),
        "delete with claim": delete_claimed,
        "release": lambda: c.delete(PROJECT, queue, state["claim"][0]),
        "delete": lambda: m.delete(PROJECT, queue, state["ids"][-1]),
        "bulk delete": lambda: m.bulk_delete(PROJECT, queue, state["ids"][-3:-1]),
        "pop": lambda: m.pop(PROJECT, queue, 2),
        "first": lambda: m.first(PROJECT, queue),
        "stats": lambda: driver.queues.stats(PROJECT, queue),
    }


@pytest.mark.parametrize("queue", [DEEP, SHALLOW])
def test_hot_statements_stay_in_the_queue_range(seeded: SqlDataDriver, queue: str) -> None:
    problems = []
    checked = 0
    for name, work in operations(seeded, queue).items():
        for statement, params in capture(work):
            if not explainable(statement):
                continue
            checked += 1
            found, text = explain(seeded.engine, statement, params)
            if found:
                problems.append(f"{name}: {found}\n{statement}\n{text}")
    assert checked >= 20
    assert not problems, "\n\n".join(problems)


def test_ordered_reads_walk_the_marker_index(seeded: SqlDataDriver) -> None:
    """Listing, claiming and first/last read the deep queue in marker order, no sort."""
    ops = operations(seeded, DEEP)
    ordered = []
    for name in ("list", "claim", "first", "stats"):
        for statement, params in capture(ops[name]):
            by_queue = "messages.queue_id =" in statement and "claim_id =" not in statement
            if "ORDER BY messages.marker" in statement and by_queue:
                _, text = explain(seeded.engine, statement, params)
                ordered.append((name, statement, text))
    assert len(ordered) == 5
    for name, statement, text in ordered:
        marker_index = (ORDERED, "sqlite_autoindex_messages_1")
        assert any(index in text for index in marker_index), f"{name}: {statement}\n{text}"
        sorted_ = ("filesort", '"Sort"', "TEMP B-TREE")
        assert not any(word in text for word in sorted_), f"{name}: {statement}\n{text}"


def test_gc_reads_expired_ranges_only(seeded: SqlDataDriver) -> None:
    statements = [s for s in capture(seeded.gc) if explainable(s[0]) and "expires_at" in s[0]]
    assert statements
    for statement, params in statements:
        found, text = explain(seeded.engine, statement, params)
        assert not found, f"{found}\n{statement}\n{text}"
        if "messages" in statement.split("WHERE")[0]:
            used = (
                "ix_messages_queue_id_expires_at" in text
                or "min/max" in text.lower()
                or "optimized away" in text
            )
            assert used, f"{statement}\n{text}"
    stats = seeded.queues.stats(PROJECT, STALE)
    assert stats.total == 0
