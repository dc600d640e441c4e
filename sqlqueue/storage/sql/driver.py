"""The SQL data driver: one database's controllers and housekeeping."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.storage.base import DataDriver, StorageOptions
from sqlqueue.storage.sql import deliveries as outbox
from sqlqueue.storage.sql.claims import SqlClaimController
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.deliveries import SqlDeliveryController
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.messages import SqlMessageController
from sqlqueue.storage.sql.queues import SqlQueueController
from sqlqueue.storage.sql.subscriptions import SqlSubscriptionController
from sqlqueue.storage.sql.tables import claims, messages, subscriptions
from sqlqueue.storage.sql.wakeups import SqlWakeups

logger = logging.getLogger(__name__)


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
        """Delete expired rows in small batches; safe from many workers at once."""
        now = self.db.now_ms()
        removed = 0
        for table in (messages, claims, subscriptions):
            while True:
                batch = self.db.run(lambda c, t=table: self._gc_batch(c, t, now))  # type: ignore[misc]
                removed += batch
                if batch < self.options.gc_batch:
                    break
        limit = self.options.gc_batch
        while True:
            batch = self.db.run(lambda c: outbox.gc_batch(c, now, limit))
            removed += batch
            if batch < limit:
                break
        if removed:
            logger.info("gc removed %d expired rows", removed)
        return removed

    def _gc_batch(self, conn: Connection, table: sa.Table, now: int) -> int:
        key = table.primary_key.columns.values()[0]
        query = (
            sa.select(key)
            .where(table.c.expires_at <= now)
            .order_by(key)
            .limit(self.options.gc_batch)
        )
        keys = list(conn.execute(self.db.select_for_update(query)).scalars())
        if not keys:
            return 0
        conn.execute(sa.delete(table).where(key.in_(keys)))
        return len(keys)

    def close(self) -> None:
        """Release waiting long-polls, then the connections."""
        self.wakeups.close()
        self.db.dispose()
