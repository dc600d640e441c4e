"""Before timing: prove that both storage sides send the same statements per transaction.

One transaction of each kind runs through each side while the statements reaching the
driver are recorded: a SQLAlchemy ``before_cursor_execute`` listener on the sqlqueue
side, a counting cursor on the floor side. A statement's kind is its verb plus
RETURNING / FOR UPDATE / subquery, and whether a claim's UPDATE extends lifetimes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from harness.workload import BATCH, CLAIM_LIMIT, BenchError, bodies
from sqlalchemy.engine import Engine
from storage_sides import PROJECT, Backend, FloorSide, Side, SqlqueueSide

from sqlqueue.storage.sql.counters import SHARDS
from sqlqueue.storage.sql.driver import SqlDataDriver

T = TypeVar("T")


class CountingCursor:
    """A DB-API cursor that records every statement it is asked to execute."""

    def __init__(self, cursor: Any, log: list[str]) -> None:
        self._cursor = cursor
        self._log = log

    def execute(self, sql: str, params: Any = None) -> Any:
        self._log.append(sql)
        if params is None:
            return self._cursor.execute(sql)
        return self._cursor.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class CountingConnection:
    """A DB-API connection whose cursors record their statements."""

    def __init__(self, conn: Any, log: list[str]) -> None:
        self._conn = conn
        self._log = log

    def cursor(self) -> CountingCursor:
        return CountingCursor(self._conn.cursor(), self._log)

    @property
    def autocommit(self) -> bool:
        return bool(self._conn.autocommit)

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._conn.autocommit = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def statement_shape(sql: str) -> str:
    """The kind of a statement: its verb, plus RETURNING / FOR UPDATE / subquery / a
    claim's lifetime extension."""
    text = " ".join(sql.split()).upper()
    shape = text.split(" ", 1)[0]
    if " RETURNING " in text:
        shape += "+RETURNING"
    if " FOR UPDATE" in text:
        shape += "+FOR UPDATE"
    if "(SELECT " in text:
        shape += "+SUBQUERY"
    if "EXPIRES_AT=CASE" in text.replace(" ", ""):
        shape += "+EXTEND"  # a claim that also extends short lifetimes
    return shape


def _one_of_each(side: Side, queue: str, log: list[str]) -> dict[str, list[str]]:
    """One transaction of each kind through ``side``; the statements each sent."""
    seen: dict[str, list[str]] = {}

    def record(op: str, step: Callable[[], T]) -> T:
        log.clear()
        result = step()
        seen[op] = [statement_shape(sql) for sql in log]
        return result

    record("post x1", lambda: side.post(queue, bodies(0, 1)))
    record("post x10", lambda: side.post(queue, bodies(1, BATCH)))
    claim_id, found = record("claim", lambda: side.claim(queue, CLAIM_LIMIT))
    if claim_id is None or len(found) != CLAIM_LIMIT:
        raise BenchError(f"{side.name}: the check claim took {len(found)} messages")
    record("delete", lambda: side.delete(queue, found[0][0], claim_id))
    record("bulk delete", lambda: side.bulk_delete(queue, [mid for mid, _ in found[2:]]))
    record("stats", lambda: side.stats(queue))
    return seen


def check_statements(backend: Backend) -> str:
    """Stop unless both sides send the same statements per transaction; a summary line."""
    ours: list[str] = []

    def on_execute(*args: Any) -> None:
        ours.append(args[2])  # (conn, cursor, statement, parameters, context, executemany)

    driver = SqlDataDriver(backend.engine)
    for queue in ("check-sqlqueue", "check-floor"):
        driver.queues.create(PROJECT, queue)
    with backend.engine.begin() as conn:  # every counter shard exists: no random insert
        conn.execute(
            sa.text(
                "INSERT INTO queue_counters (queue_id, shard, delta)"
                " SELECT id, :shard, 0 FROM queues WHERE name LIKE 'check-%'"
            ),
            [{"shard": shard} for shard in range(SHARDS)],
        )

    def on_begin(conn: Any) -> None:
        # sqlqueue's SQLite engine sends BEGIN IMMEDIATE straight to sqlite3.
        if backend.name == "sqlite":
            ours.append("BEGIN")

    # Every engine: sqlqueue runs one-statement units on a second, autocommit
    # engine on PostgreSQL (Database.run_alone).
    sa.event.listen(Engine, "before_cursor_execute", on_execute)
    sa.event.listen(backend.engine, "begin", on_begin)
    try:
        mine = _one_of_each(SqlqueueSide(driver), "check-sqlqueue", ours)
    finally:
        sa.event.remove(Engine, "before_cursor_execute", on_execute)
        sa.event.remove(backend.engine, "begin", on_begin)
    theirs: list[str] = []
    counted = CountingConnection(backend.raw, theirs)
    floor = FloorSide(counted, backend.name, insert_returning=backend.insert_returning)
    hand = _one_of_each(floor, "check-floor", theirs)
    with backend.engine.begin() as conn:  # leave the messages table empty again
        conn.exec_driver_sql("DELETE FROM messages")
        conn.exec_driver_sql("DELETE FROM queue_counters")
    if mine != hand:
        detail = "; ".join(
            f"{op}: sqlqueue {mine[op]} vs floor {hand[op]}" for op in mine if mine[op] != hand[op]
        )
        raise BenchError(f"{backend.name}: the floor does not mirror sqlqueue: {detail}")
    counts = ", ".join(f"{op} {len(mine[op])}={len(hand[op])}" for op in mine)
    return f"statements per transaction, sqlqueue=floor: {counts} (same kinds, same order)"
