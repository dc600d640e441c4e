"""The hot statements, built once with bound parameters.

PERF: building a Core statement per call costs SQLAlchemy a fresh cache-key
computation (about 80 us for a two-column SELECT against 4 us raw, measured
by bench/storage_bench.py); a statement built once at import and executed
with parameters skips that work. Parameter names are prefixed ``p_`` because
UPDATE reserves bare column names for its SET clause.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from sqlqueue.storage.sql import counters
from sqlqueue.storage.sql.tables import claims, messages, queues

READ_COLUMNS = (
    messages.c.id,
    messages.c.marker,
    messages.c.body,
    messages.c.ttl,
    messages.c.created_at,
    messages.c.claim_id,
    messages.c.claim_expires,
    messages.c.claim_count,
)
"""What a reader needs of a message row."""

_project: sa.BindParameter[str] = sa.bindparam("p_project")
_name: sa.BindParameter[str] = sa.bindparam("p_name")
_now: sa.BindParameter[int] = sa.bindparam("p_now")

FIND_QUEUE = sa.select(queues.c.id, queues.c.meta, queues.c.moved_to).where(
    queues.c.project == _project, queues.c.name == _name
)
"""(id, meta, moved_to) of queue ``p_name`` of project ``p_project``."""

QUEUE_ID = (
    sa.select(queues.c.id)
    .where(queues.c.project == _project, queues.c.name == _name)
    .scalar_subquery()
)

BUMP_RETURNING = (
    sa.update(queues)
    .where(queues.c.project == _project, queues.c.name == _name)
    .values(
        next_marker=queues.c.next_marker + sa.bindparam("p_count"),
        message_rows=queues.c.message_rows + sa.bindparam("p_rows"),
        updated_at=_now,
    )
    .returning(
        queues.c.id, queues.c.meta, queues.c.next_marker, queues.c.notify_until, queues.c.moved_to
    )
)
"""Reserve ``p_count`` markers and count ``p_rows`` rows; returns the counter after the bump."""

BUMP_RETURNING_NOTIFY = BUMP_RETURNING.returning(
    sa.func.pg_notify(sa.bindparam("p_channel"), sa.bindparam("p_key"))
)
"""BUMP_RETURNING that also wakes long-pollers of other processes (PostgreSQL):
the NOTIFY goes out when, and only if, the posting transaction commits."""

NOTIFY = sa.select(sa.func.pg_notify(sa.bindparam("p_channel"), sa.bindparam("p_key")))
"""A post's NOTIFY on its own (PostgreSQL, non-FIFO posts: sent with the insert)."""

LOCK_COUNTER = (
    sa.select(
        queues.c.id, queues.c.meta, queues.c.next_marker, queues.c.notify_until, queues.c.moved_to
    )
    .where(queues.c.project == _project, queues.c.name == _name)
    .with_for_update()
)
SET_COUNTER = (
    sa.update(queues)
    .where(queues.c.id == sa.bindparam("p_id"))
    .values(
        next_marker=sa.bindparam("p_next"),
        message_rows=queues.c.message_rows + sa.bindparam("p_rows"),
        updated_at=_now,
    )
)
"""Without UPDATE ... RETURNING (MySQL): lock the row, then bump it."""

LOCK_QUEUE = FIND_QUEUE.with_for_update()
"""(id, meta, moved_to) of a queue, its row locked until commit (read-modify-write)."""
SET_META = (
    sa.update(queues)
    .where(queues.c.id == sa.bindparam("p_id"))
    .values(meta=sa.bindparam("p_meta"), updated_at=_now)
)

INSERT = sa.insert(messages)

INSERT_COLUMNS = (
    "queue_id",
    "marker",
    "body",
    "client_id",
    "ttl",
    "created_at",
    "expires_at",
    "delay_until",
    "claim_id",
    "claim_expires",
    "claim_count",
)
ROWS_PER_INSERT = 500
"""At most 5,500 parameters per INSERT: under SQLite's and PostgreSQL's limits."""


@functools.lru_cache(maxsize=64)
def insert_returning_sql(paramstyle: str, rows: int) -> str:
    """``INSERT INTO messages … VALUES (…), … RETURNING id, marker`` for ``rows`` rows.

    PERF: SQLAlchemy's executemany path costs about 40 us of Python per row
    (bench/storage_bench.py, post x10); one cached driver-level statement with
    a flat tuple of parameters skips it. Only integers and strings (bodies
    already JSON-encoded) are bound, so no bind processing is lost.
    """
    mark = "?" if paramstyle == "qmark" else "%s"
    row = "(" + ", ".join([mark] * len(INSERT_COLUMNS)) + ")"
    values = ", ".join([row] * rows)
    return (
        f"INSERT INTO messages ({', '.join(INSERT_COLUMNS)}) VALUES {values} RETURNING id, marker"
    )


_live_edge = (messages.c.queue_id == sa.bindparam("p_queue"), messages.c.expires_at > _now)
OLDEST = (
    sa.select(messages.c.id, messages.c.created_at)
    .where(*_live_edge)
    .order_by(messages.c.marker.asc())
    .limit(1)
)
NEWEST = (
    sa.select(messages.c.id, messages.c.created_at)
    .where(*_live_edge)
    .order_by(messages.c.marker.desc())
    .limit(1)
)
"""(id, created_at) of queue ``p_queue``'s first or last live message (stats)."""

_claimable = (
    messages.c.queue_id == sa.bindparam("p_queue"),
    messages.c.marker > sa.bindparam("p_after"),
    messages.c.expires_at > _now,
    messages.c.claim_expires <= _now,
)


def _candidates(*extra: sa.ColumnElement[bool]) -> sa.Select[tuple[int, int, int]]:
    return (
        sa.select(messages.c.id, messages.c.claim_count, messages.c.marker, messages.c.expires_at)
        .where(*_claimable, *extra)
        .order_by(messages.c.marker)
        .limit(sa.bindparam("p_limit"))
        .with_for_update(skip_locked=True)  # dropped by SQLite, which has one writer
    )


CANDIDATES = _candidates()
CANDIDATES_UNDELAYED = _candidates(messages.c.delay_until <= _now)
"""(id, claim_count, marker, expires_at) of free messages after marker ``p_after``,
oldest first, locked; SKIP LOCKED lets claimers take disjoint rows."""

_extend = messages.c.expires_at < sa.bindparam("p_claim_expires")


@functools.cache
def take(count: int, *, returning: bool, extend: bool = True) -> sa.Update:
    """Claim the ``count`` locked rows ``p_key_0``… in one UPDATE; ``returning``
    the claimed messages (PostgreSQL, SQLite).

    ``extend``: the UPDATE also extends lifetimes shorter than the claim
    (``p_extended_ttl``, ``p_extended_expires``). Without it the statement
    names neither ``ttl`` nor ``expires_at``, so no database rewrites the
    ``(queue_id, expires_at)`` index entries of the claimed rows: the claim
    takes it when no candidate expires before the claim ends (the usual case,
    and the cheaper one: docs/performance.md, "SQLite claim 10 at 1M").

    One statement per count (at most the claim limit) and kind, built once:
    the hot path runs it without expanding an IN list per call
    (storage/sql/hot.py).
    """
    keys: list[sa.BindParameter[int]] = [sa.bindparam(key_name(i)) for i in range(count)]
    # MySQL evaluates SET left to right with the new values: ttl must be
    # computed before expires_at changes, and both before claim_expires.
    lifetimes: list[tuple[sa.Column[Any], Any]] = [
        (
            messages.c.ttl,
            sa.case((_extend, sa.bindparam("p_extended_ttl")), else_=messages.c.ttl),
        ),
        (
            messages.c.expires_at,
            sa.case((_extend, sa.bindparam("p_extended_expires")), else_=messages.c.expires_at),
        ),
    ]
    stmt = (
        sa.update(messages)
        .where(messages.c.id.in_(keys), messages.c.claim_expires <= _now)
        .ordered_values(
            *(lifetimes if extend else []),
            (messages.c.claim_id, sa.bindparam("p_claim")),
            (messages.c.claim_expires, sa.bindparam("p_claim_expires")),
            (messages.c.claim_count, messages.c.claim_count + 1),
        )
    )
    return stmt.returning(*READ_COLUMNS) if returning else stmt


@functools.cache
def delete_keys(count: int) -> sa.Delete:
    """Delete the ``count`` messages ``p_key_0``… of queue ``p_queue`` (bulk delete by ids).

    One statement per count (at most a page of ids), built once, as ``take``.
    """
    keys: list[sa.BindParameter[int]] = [sa.bindparam(key_name(i)) for i in range(count)]
    return sa.delete(messages).where(
        messages.c.queue_id == sa.bindparam("p_queue"), messages.c.id.in_(keys)
    )


@functools.lru_cache(maxsize=512)
def delete_keys_held(count: int, held: int) -> sa.Delete:
    """``delete_keys``, for the messages among them held by a live claim of ``held``
    claim ids ``p_held_0``… at ``p_now`` (bulk delete with ``message_delete_with_claim_id``).

    Built once per (count, held), as ``take``; both are at most a page (``ids`` and
    ``claim_ids`` in one request), and the cache is bounded besides.
    """
    keys: list[sa.BindParameter[int]] = [sa.bindparam(key_name(i)) for i in range(count)]
    claims_held: list[sa.BindParameter[str]] = [sa.bindparam(held_name(i)) for i in range(held)]
    return sa.delete(messages).where(
        messages.c.queue_id == sa.bindparam("p_queue"),
        messages.c.id.in_(keys),
        messages.c.claim_id.in_(claims_held),
        messages.c.claim_expires > _now,
    )


def held_params(claim_ids: list[str]) -> dict[str, str]:
    """The ``p_held_<n>`` parameters of ``delete_keys_held`` for ``claim_ids``."""
    return {held_name(index): claim_id for index, claim_id in enumerate(claim_ids)}


def held_name(index: int) -> str:
    """The bind name of the ``index``-th claim id of ``delete_keys_held``."""
    return f"p_held_{index}"


def key_params(keys: list[int]) -> dict[str, int]:
    """The ``p_key_<n>`` parameters of ``take`` and ``delete_keys`` for ``keys`` (a new dict)."""
    if len(keys) > len(_KEY_NAMES):
        return {key_name(index): key for index, key in enumerate(keys)}
    return dict(zip(_KEY_NAMES, keys, strict=False))  # PERF: no Python call per key


def key_name(index: int) -> str:
    """The bind name of the ``index``-th key of ``take``."""
    return f"p_key_{index}"


_KEY_NAMES = [key_name(index) for index in range(1000)]
"""``key_name`` of the first keys (a claim or a page of ids takes at most a few dozen)."""


INSERT_CLAIM = sa.insert(claims)

DELETE_CLAIMED = sa.delete(messages).where(
    messages.c.id == sa.bindparam("p_key"),
    messages.c.queue_id == QUEUE_ID,
    messages.c.claim_id == sa.bindparam("p_claim"),
    messages.c.claim_expires > _now,
)
DELETE_UNCLAIMED = sa.delete(messages).where(
    messages.c.id == sa.bindparam("p_key"),
    messages.c.queue_id == QUEUE_ID,
    messages.c.claim_expires <= _now,
)
"""Delete one message under the claim rules, resolving the queue in-statement."""

DELETE_CLAIMED_COUNTED = counters.counted_delete(DELETE_CLAIMED)
DELETE_UNCLAIMED_COUNTED = counters.counted_delete(DELETE_UNCLAIMED)
"""PostgreSQL: the deletes above and their count, in one statement (``p_shard``).

PERF: SQLAlchemy cannot cache an INSERT whose CTE is a DELETE (it compiles
it again on every ``conn.execute``, about 0.5 ms); run through
``hot.execute``, it is compiled once per dialect."""
