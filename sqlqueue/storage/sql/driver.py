"""The SQL data driver: one database's controllers and housekeeping."""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.observe.metrics import CLAIMS_EXPIRED, MESSAGES_EXPIRED
from sqlqueue.storage.base import DataDriver, GcProgress, StorageOptions
from sqlqueue.storage.sql import counters, maintenance, tally
from sqlqueue.storage.sql import deliveries as outbox
from sqlqueue.storage.sql.claims import SqlClaimController
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.deliveries import SqlDeliveryController
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.errors import wrap_db_errors
from sqlqueue.storage.sql.messages import SqlMessageController
from sqlqueue.storage.sql.queues import SqlQueueController
from sqlqueue.storage.sql.subscriptions import SqlSubscriptionController
from sqlqueue.storage.sql.tables import claims, messages, queues, subscriptions
from sqlqueue.storage.sql.wakeups import SqlWakeups

logger = logging.getLogger(__name__)

_PROBES = {
    table: sa.select(sa.func.min(table.c.expires_at)).where(
        table.c.queue_id == sa.bindparam("p_queue")
    )
    for table in (messages, claims)
}
"""The earliest expiry of a queue's rows: one descent of (queue_id, expires_at).

PERF: not ``… AND expires_at <= now LIMIT 1``: when statistics promise many
expired rows, PostgreSQL plans that as a sequential scan that stops at the
first match, which reads the whole table once the rows are gone."""


_EXPIRED = {messages.name: MESSAGES_EXPIRED, claims.name: CLAIMS_EXPIRED}
"""The counter of each table whose rows gc removes as expired."""


_BACKLOG = {
    table: sa.select(sa.func.count())
    .select_from(table)
    .where(table.c.queue_id == sa.bindparam("p_queue"), table.c.expires_at <= sa.bindparam("p_now"))
    for table in (messages, claims)
}
_EXPIRED_SUBSCRIPTIONS = (
    sa.select(sa.func.count())
    .select_from(subscriptions)
    .where(subscriptions.c.expires_at <= sa.bindparam("p_now"))
)


def _nobody(removed: int) -> None:
    """No one to tell about gc's progress."""


def _expired_queues(conn: Connection, now: int) -> list[tuple[sa.Table, int]]:
    """(table, queue id) of every queue with expired messages or claims."""
    found = []
    for queue_id in conn.execute(sa.select(queues.c.id).order_by(queues.c.id)).scalars():
        for table, probe in _PROBES.items():
            earliest = conn.execute(probe, {"p_queue": queue_id}).scalar()
            if earliest is not None and earliest <= now:
                found.append((table, queue_id))
    return found


class SqlDataDriver(DataDriver):
    """Queues, messages, claims, subscriptions and the notification outbox of one database."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = system_clock,
        options: StorageOptions | None = None,
    ) -> None:
        self.options = options or StorageOptions()
        self.db = Database(engine, clock)
        self.wakeups: SqlWakeups = SqlWakeups(self.db, self.options.wake_poll_seconds)
        self.queues = SqlQueueController(self.db, self.options)
        self.messages = SqlMessageController(self.db, self.options, self.wakeups)
        self.claims = SqlClaimController(self.db, self.options, self.wakeups)
        self.subscriptions = SqlSubscriptionController(self.db, self.options)
        self.deliveries = SqlDeliveryController(self.db, self.options)
        self._maintained_at: float | None = None

    @classmethod
    def from_url(cls, url: str, *, persist: bool = True, **kwargs: object) -> SqlDataDriver:
        """A driver for the database at ``url`` (``persist``: see ``make_engine``)."""
        return cls(make_engine(url, persist=persist), **kwargs)  # type: ignore[arg-type]

    @property
    def engine(self) -> Engine:
        """The engine this driver runs on."""
        return self.db.engine

    def is_alive(self) -> bool:
        return self.db.is_alive()

    def gc(self, progress: GcProgress | None = None) -> int:
        """Delete expired rows in small batches; safe from many workers at once.

        Messages and claims are collected queue by queue over their
        ``(queue_id, expires_at)`` indexes: one probe per queue finds the
        queues with expired rows, then batches of their expired rows are
        deleted. No statement can be planned over live rows or over a
        table-wide expiry index (that a live query could also pick), and
        removed messages are counted in the deleting transaction
        (storage/sql/counters.py).
        """
        now = self.db.now_ms()
        told = progress or _nobody
        removed = 0
        for table, queue_id in self.db.run(lambda c: _expired_queues(c, now), write=False):
            removed += self._drain(table, now, queue_id, told)
        removed += self._drain(subscriptions, now, None, told)
        limit = self.options.gc_batch
        while True:
            batch = self.db.run(lambda c: outbox.gc_batch(c, now, limit))
            removed += batch
            told(batch)
            if batch < limit:
                break
        if removed:
            logger.info("gc removed %d expired rows", removed)
        return removed

    def gc_backlog(self) -> int:
        """Expired rows per queue over (queue_id, expires_at), then subscriptions
        and finished deliveries: index ranges the size of the backlog."""
        now = self.db.now_ms()

        def work(conn: Connection) -> int:
            found = sum(
                conn.execute(_BACKLOG[table], {"p_queue": queue_id, "p_now": now}).scalar_one()
                for table, queue_id in _expired_queues(conn, now)
            )
            found += conn.execute(_EXPIRED_SUBSCRIPTIONS, {"p_now": now}).scalar_one()
            return int(found) + outbox.gc_backlog(conn, now)

        return self.db.run(work, write=False)

    def _drain(self, table: sa.Table, now: int, queue_id: int | None, progress: GcProgress) -> int:
        removed = 0
        while True:
            batch = self.db.run(lambda c: self._gc_batch(c, table, now, queue_id))
            removed += batch
            progress(batch)
            if batch < self.options.gc_batch:
                return removed

    def _gc_batch(self, conn: Connection, table: sa.Table, now: int, queue_id: int | None) -> int:
        key = table.primary_key.columns.values()[0]
        query = sa.select(key).where(table.c.expires_at <= now).limit(self.options.gc_batch)
        if queue_id is not None:
            # Ordered by the index, so no plan can prefer a scan plus a sort.
            query = query.where(table.c.queue_id == queue_id).order_by(table.c.expires_at)
        keys = list(conn.execute(self.db.select_for_update(query)).scalars())
        if not keys:
            return 0
        conn.execute(sa.delete(table).where(key.in_(keys)))
        if table is messages and queue_id is not None:
            counters.add(conn, queue_id, -len(keys))
        expired = _EXPIRED.get(table.name)
        if expired is not None:
            tally.count(conn, expired, len(keys))
        return len(keys)

    def maintain(self) -> list[str]:
        """The maintenance step (storage/sql/maintenance.py) if on and due; what was done.

        Due at the first call, then once ``options.maintenance_interval``
        seconds have passed since the previous step of this driver.

        :raises StorageUnavailable: the database failed.
        """
        opts = self.options
        now = time.monotonic()
        since = self._maintained_at
        if not opts.maintenance or (since is not None and now - since < opts.maintenance_interval):
            return []
        self._maintained_at = now
        thresholds = maintenance.Thresholds(opts.maintenance_min_rows, opts.maintenance_fraction)
        with wrap_db_errors():
            return maintenance.run(self.engine, thresholds)

    def close(self) -> None:
        """Release waiting long-polls, then the connections."""
        self.wakeups.close()
        self.db.dispose()
