"""The notification outbox on SQL: rows written with the posted messages, leased by workers.

A post inserts one row per (message, live subscription) with one
``INSERT ... SELECT`` in its own transaction, and only while the queue's
``notify_until`` hint says a subscription may be live, so a queue without
subscribers pays nothing. Workers lease due rows (``due_at`` pushed past the
send's timeout) in a short transaction of their own and record the outcome
afterwards; a worker that dies leaves its rows due again when the lease ends.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sqlqueue import errors
from sqlqueue.domain import ids
from sqlqueue.domain.models import Delivery, DeliveryResult, DeliveryStats, Subscription
from sqlqueue.storage import blobs
from sqlqueue.storage.base import DeliveryController, StorageOptions
from sqlqueue.storage.sql.database import Database, loads
from sqlqueue.storage.sql.rows import to_subscription
from sqlqueue.storage.sql.tables import deliveries, queues
from sqlqueue.storage.sql.tables import subscriptions as subs

PENDING, DELIVERED, FAILED = 0, 1, 2
ERROR_MAX = 500

NOTIFICATION, CONFIRM, UNCONFIRM = "notification", "confirm", "unconfirm"

_now: sa.BindParameter[int] = sa.bindparam("p_now")
_project: sa.BindParameter[str] = sa.bindparam("p_project")
_name: sa.BindParameter[str] = sa.bindparam("p_name")

_COLUMNS = [
    "subscription_id",
    "project",
    "queue",
    "kind",
    "message_id",
    "body",
    "ttl",
    "state",
    "attempts",
    "due_at",
    "created_at",
    "last_error",
]


_due = (deliveries.c.state == PENDING, deliveries.c.due_at <= _now)
_not_busy = deliveries.c.subscription_id.not_in(sa.bindparam("p_busy", expanding=True))


def _scan(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(deliveries.c.id, deliveries.c.subscription_id)
        .where(*_due, *where)
        .order_by(deliveries.c.due_at, deliveries.c.id)
        .limit(sa.bindparam("p_scan"))
        .with_for_update(skip_locked=True)  # dropped by SQLite, which has one writer
    )


PROBE = sa.select(deliveries.c.id).where(*_due).limit(1)
PROBE_BUSY = sa.select(deliveries.c.id).where(*_due, _not_busy).limit(1)
SCAN, SCAN_BUSY = _scan(), _scan(_not_busy)
"""Due rows, oldest first (narrow: the caps are applied in Python)."""
LEASE = (
    sa.update(deliveries)
    .where(deliveries.c.id.in_(sa.bindparam("p_keys", expanding=True)))
    .values(due_at=sa.bindparam("p_until"), attempts=deliveries.c.attempts + 1)
)
FETCH = (
    sa.select(deliveries)
    .where(deliveries.c.id.in_(sa.bindparam("p_keys", expanding=True)))
    .order_by(deliveries.c.due_at, deliveries.c.id)
)
LIVE_SUBSCRIPTIONS = sa.select(subs).where(
    subs.c.id.in_(sa.bindparam("p_ids", expanding=True)), subs.c.expires_at > _now
)
QUEUE_METADATA = sa.select(queues.c.project, queues.c.name, queues.c.meta).where(
    queues.c.project.in_(sa.bindparam("p_projects", expanding=True)),
    queues.c.name.in_(sa.bindparam("p_names", expanding=True)),
)


def _pick(
    found: Sequence[Row[Any]], limit: int, per_subscription: int, subscriptions: int
) -> list[int]:
    """Keys of the scanned rows within the caps, oldest first."""
    keys: list[int] = []
    per: dict[str, int] = {}
    for row in found:
        count = per.get(row.subscription_id, 0)
        if per_subscription and count >= per_subscription:
            continue
        if subscriptions and not count and len(per) >= subscriptions:
            continue
        per[row.subscription_id] = count + 1
        keys.append(row.id)
        if len(keys) >= limit:
            break
    return keys


def _metadata(conn: Connection, names: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Metadata of the named queues (missing ones absent)."""
    params = {"p_projects": sorted({p for p, _ in names}), "p_names": sorted({q for _, q in names})}
    return {
        (row.project, row.name): loads(row.meta)
        for row in conn.execute(QUEUE_METADATA, params)
        if (row.project, row.name) in names
    }


SOCKET_SCHEME = "websocket:"
"""Subscribers that are websocket connections: the websocket server pushes to
them itself, so the outbox holds nothing for them."""


@functools.lru_cache(maxsize=8)
def posted_sql(paramstyle: str, confirmed_only: bool) -> str:
    """One outbox row per (posted message, live subscription), in one driver-level
    statement; parameters: now, now, queue id, first marker,
    last marker, project, queue name, now.

    PERF: the same ``INSERT ... SELECT`` as a Core statement cost SQLAlchemy
    about 0.2 ms of Python per post (bench/notify_bench.py); cached text skips it.
    """
    mark = "?" if paramstyle == "qmark" else "%s"
    confirmed = " AND s.confirmed" if confirmed_only else ""
    return (
        f"INSERT INTO deliveries ({', '.join(_COLUMNS)}) "
        f"SELECT s.id, s.project, s.source, '{NOTIFICATION}', m.id, m.body, m.ttl, "
        f"{PENDING}, 0, {mark}, {mark}, NULL "
        f"FROM subscriptions s JOIN messages m "
        f"ON m.queue_id = {mark} AND m.marker BETWEEN {mark} AND {mark} "
        f"WHERE s.project = {mark} AND s.source = {mark} AND s.expires_at > {mark}{confirmed} "
        f"AND SUBSTR(s.subscriber, 1, {len(SOCKET_SCHEME)}) <> '{SOCKET_SCHEME}'"
    )


LATEST_SUBSCRIPTION = (
    sa.select(sa.func.max(subs.c.expires_at))
    .where(subs.c.project == _project, subs.c.source == _name)
    .scalar_subquery()
)
SET_HINT = (
    sa.update(queues)
    .where(queues.c.id == sa.bindparam("p_queue"), queues.c.notify_until.is_(None))
    .values(notify_until=sa.func.coalesce(LATEST_SUBSCRIPTION, 0))
)
"""Compute an unknown hint; a subscription write racing with it wins (not NULL any more)."""

_current = sa.func.coalesce(queues.c.notify_until, 0)
RAISE_HINT = (
    sa.update(queues)
    .where(queues.c.project == _project, queues.c.name == _name)
    .values(
        notify_until=sa.case(
            (_current < sa.bindparam("p_until"), sa.bindparam("p_until")),
            else_=queues.c.notify_until,
        )
    )
)
"""A subscription of the queue may live until ``p_until``."""


def enqueue_posted(
    conn: Connection,
    *,
    project: str,
    queue: str,
    queue_id: int,
    markers: tuple[int, int],
    hint: int | None,
    now: int,
    confirmed_only: bool,
) -> None:
    """Add the outbox rows of a post (markers ``first..last``) if subscriptions may live.

    ``hint`` is the queue's ``notify_until`` read while reserving the markers:
    in the past, nothing is done; unknown (None), it is computed first.
    """
    if hint is None:
        params = {"p_project": project, "p_name": queue, "p_queue": queue_id}
        conn.execute(SET_HINT, params)
        hint = conn.execute(
            sa.select(queues.c.notify_until).where(queues.c.id == queue_id)
        ).scalar()
    if hint is None or hint <= now:
        return
    first, last = markers
    sql = posted_sql(conn.dialect.paramstyle, confirmed_only)
    conn.exec_driver_sql(sql, (now, now, queue_id, first, last, project, queue, now))


def raise_hint(conn: Connection, project: str, queue: str, until: int) -> None:
    """Tell posts to the queue that a subscription lives until ``until`` (ms)."""
    conn.execute(RAISE_HINT, {"p_project": project, "p_name": queue, "p_until": until})


def enqueue_notice(
    conn: Connection, project: str, queue: str, subscription_id: str, kind: str, now: int
) -> bool:
    """Queue a confirmation notice of a live subscription; False if there is none."""
    row = conn.execute(
        sa.select(subs.c.ttl, subs.c.subscriber).where(
            subs.c.id == subscription_id,
            subs.c.project == project,
            subs.c.source == queue,
            subs.c.expires_at > now,
        )
    ).first()
    if row is None or row.subscriber.startswith(SOCKET_SCHEME):
        return False
    values = {
        "subscription_id": subscription_id,
        "project": project,
        "queue": queue,
        "kind": kind,
        "message_id": None,
        "body": "null",
        "ttl": row.ttl,
        "state": PENDING,
        "attempts": 0,
        "due_at": now,
        "created_at": now,
        "last_error": None,
    }
    conn.execute(sa.insert(deliveries).values(values))
    return True


UNREADABLE_RETRY_MS = 60_000
"""How long a notification whose encrypted body cannot be opened waits before
the next look (the key may be configured again meanwhile)."""


def _hold(conn: Connection, row: Row[Any], error: str, now: int, keep_failed: int) -> None:
    """Put back a leased row whose body cannot be decrypted, the try uncounted.

    It stays pending (``last_error`` says why) until its message's TTL is over,
    then fails for good: a notification is not worth sending after its message.
    """
    values: dict[str, Any] = {"last_error": error[:ERROR_MAX]}
    if row.created_at + row.ttl * 1000 <= now:
        values.update(state=FAILED, due_at=now + keep_failed * 1000)
    else:
        values.update(due_at=now + UNREADABLE_RETRY_MS, attempts=row.attempts - 1)
    conn.execute(sa.update(deliveries).where(deliveries.c.id == row.id).values(values))


def subscription_stats(conn: Connection, subscription_id: str) -> DeliveryStats:
    """Counts by state and the latest error of one subscription's outbox rows."""
    query = (
        sa.select(deliveries.c.state, sa.func.count())
        .where(deliveries.c.subscription_id == subscription_id)
        .group_by(deliveries.c.state)
    )
    counts: dict[int, int] = {int(state): int(n) for state, n in conn.execute(query).all()}
    error = conn.execute(
        sa.select(deliveries.c.last_error)
        .where(
            deliveries.c.subscription_id == subscription_id,
            deliveries.c.last_error.is_not(None),
        )
        .order_by(deliveries.c.id.desc())
        .limit(1)
    ).scalar()
    return DeliveryStats(
        delivered=int(counts.get(DELIVERED, 0)),
        pending=int(counts.get(PENDING, 0)),
        failed=int(counts.get(FAILED, 0)),
        last_error=error,
    )


class SqlDeliveryController(DeliveryController):
    """The outbox of one database."""

    def __init__(self, db: Database, options: StorageOptions) -> None:
        self._db = db
        self._options = options

    def take_due(
        self,
        limit: int,
        lease: float,
        *,
        per_subscription: int = 0,
        subscriptions: int = 0,
        busy: Sequence[str] = (),
        done: Sequence[DeliveryResult] = (),
    ) -> list[Delivery]:
        now = self._db.now_ms()
        params: dict[str, Any] = {"p_now": now, "p_busy": list(busy), "p_scan": limit}
        probe, scan = (PROBE_BUSY, SCAN_BUSY) if busy else (PROBE, SCAN)
        # A read first: an idle outbox costs no write lock (SQLite has one writer).
        if not done and (
            limit <= 0
            or self._db.run(lambda c: c.execute(probe, params).first(), write=False) is None
        ):
            return []
        if per_subscription or subscriptions:
            params["p_scan"] = max(limit * 4, 32)
        caps = (limit, per_subscription, subscriptions)

        def work(conn: Connection) -> list[Delivery]:
            self._relaxed(conn)
            self._record(conn, done, now)
            return self._take(conn, scan, params, caps, int(lease * 1000)) if limit > 0 else []

        taken = self._db.run(work)
        # Bodies in the blob store, fetched once the lease is committed; one that is
        # gone leaves its delivery leased (it comes due again when the lease ends).
        return blobs.fill(taken, _body, _with_body, self._options.blobs, self._options.bodies)

    def _relaxed(self, conn: Connection) -> None:
        """PostgreSQL: do not wait for this transaction's WAL flush. A lease or a
        result lost in a database crash only means the row is sent again."""
        if self._db.backend == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    def _take(
        self,
        conn: Connection,
        scan: sa.Select[Any],
        params: dict[str, Any],
        caps: tuple[int, int, int],
        lease_ms: int,
    ) -> list[Delivery]:
        found = conn.execute(scan, params).all()
        keys = _pick(found, *caps)
        if not keys:
            return []
        now = params["p_now"]
        conn.execute(LEASE, {"p_keys": keys, "p_until": now + lease_ms})
        rows = conn.execute(FETCH, {"p_keys": keys}).all()
        sub_ids = list({row.subscription_id for row in rows})
        live = {
            row.id: to_subscription(row, now)
            for row in conn.execute(LIVE_SUBSCRIPTIONS, {"p_ids": sub_ids, "p_now": now})
        }
        metas = _metadata(conn, {(row.project, row.queue) for row in rows})
        taken: list[Delivery] = []
        for row in rows:
            try:
                taken.append(self._delivery(row, live, metas))
            except errors.BodyCipherFailed as ex:
                _hold(conn, row, str(ex), now, self._options.keep_failed)
        return taken

    def _delivery(
        self,
        row: Row[Any],
        live: dict[str, Subscription],
        metas: dict[tuple[str, str], dict[str, Any]],
    ) -> Delivery:
        """The row as a delivery, its body opened. :raises BodyCipherFailed:"""
        return Delivery(
            id=row.id,
            kind=row.kind,
            project=row.project,
            queue=row.queue,
            subscription_id=row.subscription_id,
            message_id=None if row.message_id is None else ids.message_id(row.message_id),
            body=self._options.bodies.load(row.body),
            ttl=row.ttl,
            attempts=row.attempts,
            created=row.created_at / 1000,
            subscription=live.get(row.subscription_id),
            queue_metadata=metas.get((row.project, row.queue), {}),
        )

    def record(self, results: Sequence[DeliveryResult]) -> None:
        if results:
            self.take_due(0, 0, done=results)

    def _record(self, conn: Connection, results: Sequence[DeliveryResult], now: int) -> None:
        done = [r.delivery_id for r in results if r.state == "delivered"]
        if done:
            keep = now + self._options.keep_delivered * 1000
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id.in_(done))
                .values(state=DELIVERED, due_at=keep)
            )
        gone = [r.delivery_id for r in results if r.state == "dropped"]
        if gone:
            conn.execute(sa.delete(deliveries).where(deliveries.c.id.in_(gone)))
        back = [r.delivery_id for r in results if r.state == "released"]
        if back:
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id.in_(back))
                .values(due_at=now, attempts=deliveries.c.attempts - 1)
            )
        for result in results:
            values: dict[str, Any]
            error = result.error[:ERROR_MAX]
            if result.state == "retry":
                values = {"due_at": now + int(result.delay * 1000), "last_error": error}
            elif result.state == "failed":
                keep = now + self._options.keep_failed * 1000
                values = {"state": FAILED, "due_at": keep, "last_error": error}
            else:
                continue
            conn.execute(
                sa.update(deliveries).where(deliveries.c.id == result.delivery_id).values(values)
            )

    def stats(self, subscription_id: str) -> DeliveryStats:
        return self._db.run(lambda c: subscription_stats(c, subscription_id), write=False)


GC = (
    sa.select(deliveries.c.id)
    .where(
        deliveries.c.state.in_([DELIVERED, FAILED]),
        deliveries.c.due_at <= _now,
    )
    .order_by(deliveries.c.id)
    .limit(sa.bindparam("p_limit"))
    .with_for_update(skip_locked=True)
)


GC_BACKLOG = (
    sa.select(sa.func.count())
    .select_from(deliveries)
    .where(deliveries.c.state.in_([DELIVERED, FAILED]), deliveries.c.due_at <= _now)
)


def _body(delivery: Delivery) -> Any:
    return delivery.body


def _with_body(delivery: Delivery, body: Any) -> Delivery:
    return dataclasses.replace(delivery, body=body)


def gc_backlog(conn: Connection, now: int) -> int:
    """How many finished rows are past their keeping time (``gc_batch`` removes them)."""
    return int(conn.execute(GC_BACKLOG, {"p_now": now}).scalar_one())


def gc_batch(conn: Connection, now: int, limit: int) -> int:
    """Delete up to ``limit`` finished rows past their keeping time; how many went."""
    keys = list(conn.execute(GC, {"p_now": now, "p_limit": limit}).scalars())
    if keys:
        conn.execute(sa.delete(deliveries).where(deliveries.c.id.in_(keys)))
    return len(keys)
