"""The pooled queue store: queues spread over pool databases through the catalogue."""

from __future__ import annotations

import random
from collections.abc import Mapping
from functools import partial
from typing import Any

from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.domain.models import Page, Pool, QueueInfo
from sqlqueue.domain.namespaces import QUEUES, Namespace
from sqlqueue.domain.policy import QueuePolicy
from sqlqueue.storage.base import (
    DataDriver,
    DriverOpener,
    GcProgress,
    Metadata,
    QueueStore,
    StorageOptions,
)
from sqlqueue.storage.pooling.listing import QueueLister
from sqlqueue.storage.pooling.routing import ControlPlane, DriverFactory, Router
from sqlqueue.storage.pooling.tombstones import TombstoneCollector, keep_seconds


class PooledStore(QueueStore):
    """Resolves each queue to the data driver of its pool.

    Args:
        control: pools, flavors and the catalogue (e.g. ``SqlControlDriver``).
        driver_factory: opens the data driver of a pool; called once per pool
            (again if the pool's uri changes). Its drivers must not create
            a missing dead-letter queue (``StorageOptions.creates_dead_letter_queues``
            false): the catalogue places it (pooling/deadletters.py).
        default: serves queues while no pool is registered, and queues created
            before pooling; owned by the caller (``close`` leaves it open).
            Opened, as the pools' drivers, with ``creates_dead_letter_queues``
            false.
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
        self._lister = QueueLister(self.router)
        self._tombstones = TombstoneCollector(self.router, clock, keep_seconds(cache_seconds))
        self._page_size = (options or StorageOptions()).default_queue_page

    def at(self, project: str, queue: str) -> DataDriver:
        return self.router.lookup(project, queue)

    def placing(self, project: str, queue: str, metadata: Metadata | None = None) -> DataDriver:
        policy = QueuePolicy.of(metadata)
        where = self.router.place(project, queue, policy.flavor)
        # NOTE: a changed _flavor does not move a placed queue (messages would be lost).
        if policy.dead_letter_queue not in (None, queue):
            self.router.colocate(project, str(policy.dead_letter_queue), queue)
        return where

    def delete_queue(self, project: str, name: str) -> None:
        self.at(project, name).queues.delete(project, name)
        self.router.unplace(project, name)

    def list_queues(
        self,
        project: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
        detailed: bool = False,
        name: str | None = None,
        filters: Mapping[str, Any] | None = None,
        with_count: bool = False,
        namespace: Namespace = QUEUES,
    ) -> Page[QueueInfo]:
        return self._lister.page(
            project,
            marker=marker,
            limit=limit or self._page_size,
            detailed=detailed,
            name=name,
            filters=filters or {},
            with_count=with_count,
            namespace=namespace,
        )

    def databases(self) -> list[DriverOpener]:
        """The default driver, then every registered pool's driver."""
        openers: list[DriverOpener] = [lambda: self.router.default]
        openers += [partial(self.router.driver, pool.name) for pool in self.router.pools()]
        return openers

    def gc(self, progress: GcProgress | None = None) -> int:
        """Expired rows in every database that answers, then the tombstones
        of moved queues no worker can still route to (pooling/tombstones.py)."""
        return super().gc(progress) + self._tombstones.collect(progress)

    def reachable(self, pool: Pool) -> bool:
        """Whether ``pool`` can be opened and answers (check before registering it)."""
        return self.router.reachable(pool)

    def invalidate(self) -> None:
        """Forget cached placements and pools (call after changing pools here)."""
        self.router.invalidate()

    def close(self) -> None:
        """Close the pools' drivers (not ``default``, which the caller owns)."""
        self.router.close()
