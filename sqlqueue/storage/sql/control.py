"""The SQL control driver: pools, flavors and the catalogue in one database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.storage.sql.catalogue import SqlCatalogueController
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.errors import wrap_db_errors
from sqlqueue.storage.sql.flavors import SqlFlavorController
from sqlqueue.storage.sql.pools import Capability, SqlPoolController, pool_capabilities

__all__ = ["Capability", "SqlControlDriver", "pool_capabilities"]


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
        try:
            with wrap_db_errors(), self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception:  # any failure means "not alive"
            return False
        return True

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()
