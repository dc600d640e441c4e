"""The SQL control driver: pools, flavors and the catalogue in one database.

Also what the control plane must know about a pool's database that only SQL
can tell: whether it answers, whether its schema is current (an empty one is
migrated), and how many messages it holds.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue import errors
from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.domain.models import Pool, QueueStats
from sqlqueue.storage.base import DataDriver
from sqlqueue.storage.sql import schema
from sqlqueue.storage.sql.catalogue import SqlCatalogueController
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.errors import check_file, safe_url
from sqlqueue.storage.sql.flavors import SqlFlavorController
from sqlqueue.storage.sql.pools import (
    Capability,
    SqlPoolController,
    pool_capabilities,
    pool_url,
)
from sqlqueue.storage.sql.tables import messages

__all__ = [
    "Capability",
    "SqlControlDriver",
    "SqlPoolDatabases",
    "message_volume",
    "pool_capabilities",
    "safe_url",
]


class SqlControlDriver:
    """The control plane's controllers over one (catalogue) database."""

    def __init__(self, engine: Engine, *, clock: Clock = system_clock) -> None:
        self.db = Database(engine, clock)
        self._pools = SqlPoolController(self.db)
        self._flavors = SqlFlavorController(self.db)
        self._catalogue = SqlCatalogueController(self.db)

    @classmethod
    def from_url(cls, url: str, *, clock: Clock = system_clock) -> SqlControlDriver:
        """A control driver for the database at ``url``."""
        return cls(make_engine(url), clock=clock)

    @property
    def pools(self) -> SqlPoolController:
        """Registered pools."""
        return self._pools

    @property
    def flavors(self) -> SqlFlavorController:
        """Per-project flavors."""
        return self._flavors

    @property
    def catalogue(self) -> SqlCatalogueController:
        """Queue placements."""
        return self._catalogue

    @property
    def engine(self) -> Engine:
        """The engine this driver runs on."""
        return self.db.engine

    def is_alive(self) -> bool:
        """Whether the catalogue database answers."""
        return self.db.is_alive()

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()


def message_volume(db: Database) -> QueueStats:
    """Free, claimed and total live messages of a whole database (one query)."""
    now = db.now_ms()
    claimed = sa.func.coalesce(
        sa.func.sum(sa.case((messages.c.claim_expires > now, 1), else_=0)), 0
    )
    stmt = sa.select(sa.func.count(), claimed).where(messages.c.expires_at > now)
    total, n_claimed = db.run(lambda c: c.execute(stmt).one(), write=False)
    return QueueStats(free=int(total) - int(n_claimed), claimed=int(n_claimed), total=int(total))


class SqlPoolDatabases:
    """Pool databases as SQL sees them: capabilities, schema, reachability, volume."""

    def capabilities(self, pool: Pool) -> list[str]:
        """Capability names of ``pool``. :raises ValidationFailed: not a SQL URI we run on."""
        return [str(cap) for cap in pool_capabilities(pool.uri, pool.options)]

    def prepare(self, uri: str) -> None:
        """Check that the database answers and has the current schema (an empty one is migrated).

        A pool database at an older revision is left to its owner to upgrade.

        :raises ValidationFailed: unreachable, in memory, not empty and not
            sqlqueue's, or at another schema revision (worded by ``schema``).
        """
        pool_url(uri)
        try:
            check_file(uri, "a pool")
        except errors.BadDatabaseUrl as ex:
            raise errors.ValidationFailed(f"Bad pool URI: {ex}") from ex
        try:
            schema.prepare(uri, upgrade_sqlite=False)
        except errors.StorageUnavailable as ex:
            raise errors.ValidationFailed(str(ex)) from ex

    def upgrade(self, uri: str, revision: str = "head") -> str | None:
        """Migrate the database at ``uri`` to ``revision``; the revision it is at after.

        :raises StorageUnavailable: the database cannot be reached.
        :raises ValidationFailed: the URI or the revision cannot be used.
        """
        return schema.migrate_to(uri, revision)

    def volume(self, driver: DataDriver) -> QueueStats | None:
        """The message counts of a pool's data driver (None if not a SQL driver)."""
        if not isinstance(driver, SqlDataDriver):
            return None
        return message_volume(driver.db)
