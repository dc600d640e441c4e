"""The control plane's implementation: pools, flavors, the catalogue and health.

One object, built by the composition root, serves both the admin HTTP API
and the ``sqlqueue pool`` / ``sqlqueue db upgrade`` commands, so the two
validate and act alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from sqlqueue import errors
from sqlqueue.control.base import ControlPlaneService
from sqlqueue.control.flavors import FlavorAdmin
from sqlqueue.control.moves import MoveAdmin, QueueMover
from sqlqueue.control.overview import OverviewBuilder
from sqlqueue.control.pools import AdminControl, PoolAdmin, PoolDatabases
from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.domain.models import CatalogueEntry, Health, Page, Pool, StoreHealth
from sqlqueue.domain.moves import MoveResult
from sqlqueue.domain.overview import Overview
from sqlqueue.storage.base import DataDriver
from sqlqueue.storage.pooling import PooledStore

logger = logging.getLogger(__name__)


class Admin(ControlPlaneService):
    """Pools, flavors, placements and health over one control plane and pooled driver."""

    def __init__(
        self,
        control: AdminControl,
        pooled: PooledStore,
        databases: PoolDatabases,
        mover: QueueMover,
        clock: Clock = system_clock,
    ) -> None:
        self._control = control
        self._pooled = pooled
        self._databases = databases
        self.pools = PoolAdmin(control, databases, pooled.invalidate, mover.adopt)
        self.flavors = FlavorAdmin(control, self.pools)
        router = pooled.router
        self._overview = OverviewBuilder(
            pooled,
            lambda: router.default,
            router.driver,
            self.pools,
            self.flavors,
            databases.volume,
            clock,
        )
        self.moves = MoveAdmin(
            control,
            self.pools,
            mover,
            unplaced_exists=lambda project, queue: router.default.queues.exists(project, queue),
        )

    def move_queue(self, project: str, queue: str, pool: str) -> MoveResult:
        """Move a live queue to ``pool`` (control/moves.py)."""
        return self.moves.move(project, queue, pool)

    def follow_flavor(self, project: str, queue: str, flavor: str | None) -> MoveResult | None:
        """A queue whose ``_flavor`` changed goes to a pool of it (control/moves.py)."""
        return self.moves.follow_flavor(project, queue, flavor)

    def alive(self) -> bool:
        """Whether the catalogue and the default database answer (pools may not)."""
        try:
            return self._control.is_alive() and self._pooled.router.default.is_alive()
        except errors.StorageUnavailable:
            return False

    def health(self) -> Health:
        """Reachability and message volume of every database (one query each)."""
        reachable = self._control.is_alive()
        default = self._probe(lambda: self._pooled.router.default)
        registered: list[Pool] = []
        if reachable:
            try:
                registered = self.pools.all()
            except errors.StorageUnavailable:
                reachable = False
        opener = self._pooled.router.driver
        pools = {pool.name: self._probe(partial(opener, pool.name)) for pool in registered}
        return Health(reachable, default, pools)

    def catalogue(
        self, project: str | None, *, marker: str | None = None, limit: int | None = None
    ) -> Page[CatalogueEntry]:
        """Placements of one project's queues (every project's when None)."""
        return self._control.catalogue.list(project, marker=marker, limit=limit)

    def catalogue_size(self) -> int:
        """How many queues the catalogue places on pools. :raises StorageUnavailable:"""
        return self._control.catalogue.count()

    def pools_up(self) -> dict[str, bool]:
        """Whether each registered pool answers (one ``SELECT 1`` each).

        :raises StorageUnavailable: the catalogue database does not answer.
        """
        opener = self._pooled.router.driver
        return {pool.name: self._alive(partial(opener, pool.name)) for pool in self.pools.all()}

    @staticmethod
    def _alive(opener: Callable[[], DataDriver]) -> bool:
        try:
            return opener().is_alive()
        except errors.StorageUnavailable:
            return False

    def placement(self, project: str, queue: str) -> CatalogueEntry:
        """Where a queue lives. :raises QueueNotMapped: not on any pool."""
        return self._control.catalogue.get(project, queue)

    def overview(self, limit: int) -> Overview:
        """The dashboard's snapshot (``control/overview.py``)."""
        return self._overview.snapshot(limit)

    def upgrade_pool(self, pool: Pool, revision: str = "head") -> str | None:
        """Migrate a pool's database; the revision it is at after.

        :raises StorageUnavailable: the database cannot be reached.
        """
        return self._databases.upgrade(pool.uri, revision)

    def _probe(self, opener: Callable[[], DataDriver]) -> StoreHealth:
        try:
            driver = opener()
            if not driver.is_alive():
                return StoreHealth(False)
            return StoreHealth(True, self._databases.volume(driver))
        except errors.StorageUnavailable as ex:
            logger.warning("health: a database is unavailable: %s", ex)
            return StoreHealth(False)
