"""The SQL data driver: one database's controllers and housekeeping."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.storage.base import DataDriver, StorageOptions
from sqlqueue.storage.sql import counters
from sqlqueue.storage.sql.claims import SqlClaimController
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.messages import SqlMessageController
from sqlqueue.storage.sql.queues import SqlQueueController
from sqlqueue.storage.sql.subscriptions import SqlSubscriptionController
from sqlqueue.storage.sql.tables import claims, messages, queues, subscriptions
from sqlqueue.storage.sql.wakeups import SqlWakeups

logger = logging.getLogger(__name__)

GC_QUEUES = 200
"""Queues whose expired rows one clean-up statement looks for (an IN list)."""


class SqlDataDriver(DataDriver):
    """Queues, messages, claims and subscriptions stored in one database."""

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

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> SqlDataDriver:
        """A driver for the database at ``url``."""
        return cls(make_engine(url), **kwargs)  # type: ignore[arg-type]

    @property
    def engine(self) -> Engine:
        """The engine this driver runs on."""
        return self.db.engine

    def is_alive(self) -> bool:
        return self.db.is_alive()

    def gc(self) -> int:
        """Delete expired rows in small batches; safe from many workers at once.

        Messages and claims are looked for queue by queue (``queue_id IN
        (…)`` over the ``(queue_id, expires_at)`` indexes, GC_QUEUES queues
        a statement), so the clean-up never needs an index that a live query
        of one queue could be planned over. Removed messages are counted in
        the same transaction (storage/sql/counters.py).
        """
        now = self.db.now_ms()
        listed = sa.select(queues.c.id).order_by(queues.c.id)
        queue_ids = self.db.run(lambda c: list(c.execute(listed).scalars()), write=False)
        removed = 0
        for start in range(0, len(queue_ids), GC_QUEUES):
            chunk = queue_ids[start : start + GC_QUEUES]
            for table in (messages, claims):
                removed += self._drain(table, now, chunk)
        removed += self._drain(subscriptions, now, None)
        if removed:
            logger.info("gc removed %d expired rows", removed)
        return removed

    def _drain(self, table: sa.Table, now: int, queue_ids: list[int] | None) -> int:
        removed = 0
        while True:
            batch = self.db.run(lambda c: self._gc_batch(c, table, now, queue_ids))
            removed += batch
            if batch < self.options.gc_batch:
                return removed

    def _gc_batch(
        self, conn: Connection, table: sa.Table, now: int, queue_ids: list[int] | None
    ) -> int:
        key = table.primary_key.columns.values()[0]
        if queue_ids is None:
            query = sa.select(key).where(table.c.expires_at <= now).order_by(key)
        else:
            query = sa.select(key, table.c.queue_id).where(
                table.c.queue_id.in_(queue_ids), table.c.expires_at <= now
            )
        found = conn.execute(self.db.select_for_update(query.limit(self.options.gc_batch))).all()
        if not found:
            return 0
        conn.execute(sa.delete(table).where(key.in_([row[0] for row in found])))
        if table is messages:
            deltas: dict[int, int] = {}
            for row in found:
                deltas[row.queue_id] = deltas.get(row.queue_id, 0) - 1
            counters.add_many(conn, deltas)
        return len(found)

    def close(self) -> None:
        """Release waiting long-polls, then the connections."""
        self.wakeups.close()
        self.db.dispose()
