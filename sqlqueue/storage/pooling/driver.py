"""The pooled data driver: the DataDriver contract over many pool databases."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from functools import partial

from sqlqueue import errors
from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.domain.models import Pool
from sqlqueue.storage.base import DataDriver, StorageOptions
from sqlqueue.storage.pooling.controllers import (
    PooledClaimController,
    PooledMessageController,
    PooledQueueController,
    PooledSubscriptionController,
)
from sqlqueue.storage.pooling.routing import ControlPlane, DriverFactory, Router

logger = logging.getLogger(__name__)


class PooledDataDriver(DataDriver):
    """Routes every queue-scoped call to the data driver of the queue's pool.

    Args:
        control: pools, flavors and the catalogue (e.g. ``SqlControlDriver``).
        driver_factory: opens the data driver of a pool; called once per pool
            (again if the pool's uri changes).
        default: serves queues while no pool is registered, and queues created
            before pooling; owned by the caller (``close`` leaves it open).
        clock: the time source of the caches.
        cache_seconds: how stale a cached catalogue lookup or pool list may be.
        rng: the random source of weighted placement (seed it in tests).
        options: page size of queue listings.
    """

    def __init__(
        self,
        control: ControlPlane,
        driver_factory: DriverFactory,
        default: DataDriver,
        *,
        clock: Clock = system_clock,
        cache_seconds: float = 5.0,
        rng: random.Random | None = None,
        options: StorageOptions | None = None,
    ) -> None:
        self.router = Router(
            control,
            driver_factory,
            default,
            clock=clock,
            cache_seconds=cache_seconds,
            rng=rng or random.Random(),
        )
        page = (options or StorageOptions()).default_queue_page
        self.queues = PooledQueueController(self.router, page)
        self.messages = PooledMessageController(self.router)
        self.claims = PooledClaimController(self.router)
        self.subscriptions = PooledSubscriptionController(self.router)

    def is_alive(self) -> bool:
        """Whether the catalogue, the default database and every pool answer."""
        try:
            return all(get().is_alive() for get in self._drivers())
        except errors.StorageUnavailable:
            return False

    def gc(self) -> int:
        """Collect garbage in every database that answers; skip the others."""
        removed = 0
        for get in self._drivers():
            try:
                removed += get().gc()
            except errors.StorageUnavailable as ex:
                logger.warning("gc skipped an unavailable pool: %s", ex)
        return removed

    def reachable(self, pool: Pool) -> bool:
        """Whether ``pool`` can be opened and answers (check before registering it)."""
        return self.router.reachable(pool)

    def _drivers(self) -> list[Callable[[], DataDriver]]:
        """Openers of the default driver and of every registered pool's driver."""
        openers: list[Callable[[], DataDriver]] = [lambda: self.router.default]
        openers += [partial(self.router.driver, pool.name) for pool in self.router.pools()]
        return openers

    def invalidate(self) -> None:
        """Forget cached placements and pools (call after changing pools here)."""
        self.router.invalidate()

    def close(self) -> None:
        """Close the pools' drivers (not ``default``, which the caller owns)."""
        self.router.close()
