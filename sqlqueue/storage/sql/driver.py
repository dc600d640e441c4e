"""The SQL data driver: one database's controllers and housekeeping."""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Engine

from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.domain.moves import Tombstone
from sqlqueue.storage.base import DataDriver, GcProgress, StorageOptions
from sqlqueue.storage.sql import maintenance, tombstones
from sqlqueue.storage.sql.claims import SqlClaimController
from sqlqueue.storage.sql.collector import Collector
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.deliveries import SqlDeliveryController
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.errors import wrap_db_errors
from sqlqueue.storage.sql.messages import SqlMessageController
from sqlqueue.storage.sql.queues import SqlQueueController
from sqlqueue.storage.sql.subscriptions import SqlSubscriptionController
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
        self._maintained_at: float | None = None
        self._collector = Collector(self.db, self.options.gc_batch, self.options.gc_rate)

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
        """Delete expired rows in short transactions; safe from many workers at once.

        Messages and claims are collected queue by queue over their
        ``(queue_id, expires_at)`` indexes, in batches sized to hold locks for
        a few milliseconds (storage/sql/collector.py). No statement can be
        planned over live rows or over a table-wide expiry index (that a live
        query could also pick), and removed messages are counted in the
        deleting transaction (storage/sql/counters.py).
        """
        removed = self._collector.collect(progress)
        if removed:
            logger.info("gc removed %d expired rows", removed)
        return removed

    def tombstones(self, before: int, limit: int) -> list[Tombstone]:
        return self.db.run(lambda c: tombstones.settled(c, before, limit), write=False)

    def forget_tombstone(self, tombstone: Tombstone) -> bool:
        return self.db.run(lambda c: tombstones.forget(c, tombstone))

    def gc_backlog(self) -> int:
        """Expired rows per queue over (queue_id, expires_at), then subscriptions
        and finished deliveries: index ranges the size of the backlog."""
        return self._collector.backlog()

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
