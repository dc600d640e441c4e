"""Where each queue lives: catalogue lookups, placement and per-pool drivers.

Lookups are cached in-process for ``cache_seconds`` (positive answers only,
so a queue is never placed twice because of a stale "unmapped"), and so is
the list of registered pools. A queue deleted or placed by another process
is therefore seen here at most ``cache_seconds`` late. Placement also
remembers, as long, a queue it sent to the default database (which then
holds it): posting again to that queue reads neither the pool list nor the
default database to place it.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlqueue import errors
from sqlqueue.domain import namespaces
from sqlqueue.domain.clock import Clock
from sqlqueue.domain.models import CatalogueEntry, Page, Pool
from sqlqueue.storage.base import DataDriver, FlavorController, PoolController
from sqlqueue.storage.pooling.following import FollowingDriver

logger = logging.getLogger(__name__)

DriverFactory = Callable[[Pool], DataDriver]
Pools = list[Pool]
PAGE = 100
IN_DEFAULT = ""
"""The cached placement of a queue that lives in the default database (no pool is named "")."""


class PlacingCatalogue(Protocol):
    """The catalogue operations pooling needs (CatalogueController + insert_if_absent)."""

    def get(self, project: str, queue: str) -> CatalogueEntry: ...

    def insert_if_absent(self, project: str, queue: str, pool: str) -> str: ...

    def list(
        self, project: str | None, *, marker: str | None = None, limit: int | None = None
    ) -> Page[CatalogueEntry]: ...

    def delete(self, project: str, queue: str) -> None: ...

    def count(self) -> int: ...


class ControlPlane(Protocol):
    """A control driver: pools, flavors and the catalogue."""

    @property
    def pools(self) -> PoolController: ...

    @property
    def flavors(self) -> FlavorController: ...

    @property
    def catalogue(self) -> PlacingCatalogue: ...


def weighted_choice(pools: Sequence[Pool], rng: random.Random) -> Pool | None:
    """A pool drawn with probability proportional to its weight (weight <= 0: never)."""
    live = [pool for pool in pools if pool.weight > 0]
    if not live:
        return None
    bounds = list(itertools.accumulate(pool.weight for pool in live))
    return live[bisect.bisect_right(bounds, rng.randrange(bounds[-1]))]


def _no_pool(label: str, flavor: str | None) -> str:
    """The description of NoPoolFound: an operator's problem, not one a retry solves."""
    which = f"of flavor {flavor} " if flavor else ""
    return (
        f"No pool {which}accepts new queues (none has a weight above 0), so {label} "
        "cannot be created; an operator must add a pool or give one a weight above 0."
    )


def _same_database(known: Pool, pool: Pool) -> bool:
    """Whether a driver made for ``known`` still serves ``pool``."""
    return known.uri == pool.uri and known.options == pool.options


class Router:
    """Maps (project, queue) to the data driver that holds the queue."""

    def __init__(
        self,
        control: ControlPlane,
        driver_factory: DriverFactory,
        default: DataDriver,
        *,
        clock: Clock,
        cache_seconds: float,
        rng: random.Random,
        cache_size: int = 10000,
    ) -> None:
        self.control = control
        self.default = default
        self._factory = driver_factory
        self._clock = clock
        self._ttl = cache_seconds
        self._rng = rng
        self._size = cache_size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._pools: tuple[Pools, float] | None = None
        self._drivers: dict[str, tuple[Pool, DataDriver]] = {}

    def lookup(self, project: str, queue: str) -> DataDriver:
        """The driver of a placed queue (following it if it moved); the default for any other."""
        pool = self.mapped_pool(project, queue)
        return self.following(project, queue, pool)

    def following(self, project: str, queue: str, pool: str | None) -> DataDriver:
        """The driver of ``pool`` (None: the default database) for this queue,
        following the queue if it moved away and its dead letters to their pool."""
        inner = self.default if pool is None else self.driver(pool)
        return FollowingDriver(self, project, queue, pool, inner)

    def moved(self, project: str, queue: str, pool: str) -> DataDriver:
        """The driver of ``pool``, where a tombstone says the queue went (remembered)."""
        logger.info("queue %s/%s moved to pool %s: following", project, queue, pool)
        self._remember(project, queue, pool)
        return self.driver(pool)

    def place(self, project: str, queue: str, flavor: str | None = None) -> DataDriver:
        """The driver to create the queue in, placing it first if needed.

        An empty cached pool list is read again before the queue goes to the
        default database: a queue created there stays there, so a pool
        registered by another worker within ``cache_seconds`` must not be
        missed. (A non-empty list may be up to ``cache_seconds`` old; a cached
        pool that was removed since is noticed when placing on it fails, and
        the list is read again.) A queue sent to the default database is
        remembered there for ``cache_seconds``, like a placed queue's pool.

        :raises FlavorDoesNotExist: :raises NoPoolFound: no pool with weight > 0 fits.
        """
        if self._cached((project, queue)) == IN_DEFAULT:  # placed there a moment ago
            return self.default  # (a queue on no pool is never moved: no tombstone to follow)
        pool = self.mapped_pool(project, queue)
        if pool is not None:
            return self.following(project, queue, pool)
        registered = self.pools()
        if not registered:  # a pool registered by another process since we cached none
            self._pools = None
            registered = self.pools()
        for attempt in range(2):
            if not registered or self._in_default(project, queue):
                # no pools (yet, or any more), or a queue from before pooling
                self._remember(project, queue, IN_DEFAULT)
                return self.default
            chosen = weighted_choice(self._candidates(registered, project, flavor), self._rng)
            if chosen is None:
                raise errors.NoPoolFound(_no_pool(namespaces.label(queue).lower(), flavor))
            try:
                winner = self.control.catalogue.insert_if_absent(project, queue, chosen.name)
                break
            except errors.PoolDoesNotExist:  # removed by another process since we cached it
                if attempt:
                    raise
                self._pools = None
                registered = self.pools()
        self._remember(project, queue, winner)
        logger.info("placed queue %s/%s on pool %s", project, queue, winner)
        # long-polls of this process wait on the default database's wake-ups until
        # the queue is placed: look again, now on its pool (others re-check in time)
        self.default.wakeups.wake(project, queue)
        return self.following(project, queue, winner)

    def colocate(self, project: str, queue: str, with_queue: str) -> None:
        """Place ``queue`` (a dead-letter queue) in the pool of ``with_queue``
        unless it is placed already.

        Claims dead-letter in one transaction when both queues share a pool;
        a dead-letter queue placed elsewhere stays there and gets its dead
        letters across pools (pooling/deadletters.py). Nothing to do while
        the source is on the default driver.
        """
        home = self.mapped_pool(project, with_queue)
        if home is not None:
            self.place_in(project, queue, home)

    def kept_in_default(self, project: str, queue: str) -> bool:
        """Whether the queue lives in the default database for good: it is there
        while pools are registered, so it is never placed on a pool. False while
        no pool is registered (a queue may be placed on one registered later)."""
        if self._cached((project, queue)) == IN_DEFAULT:
            return True
        return bool(self.pools()) and self._in_default(project, queue)

    def place_in(self, project: str, queue: str, pool: str) -> str:
        """Place ``queue`` in ``pool`` unless another placement won; the pool it is in."""
        winner = self.control.catalogue.insert_if_absent(project, queue, pool)
        self._remember(project, queue, winner)
        return winner

    def forget(self, project: str, queue: str) -> None:
        """Drop the cached placement of one queue (it was moved here)."""
        with self._lock:
            self._entries.pop((project, queue), None)

    def unplace(self, project: str, queue: str) -> None:
        """Forget the queue's placement (after deleting the queue)."""
        with self._lock:
            self._entries.pop((project, queue), None)
        self.control.catalogue.delete(project, queue)

    def mapped_pool(self, project: str, queue: str) -> str | None:
        """The pool the catalogue maps the queue to, if any (cached).

        PERF: the cached answers (a placed queue, or no pools registered) are
        read with one clock reading and no further calls.
        """
        now = self._clock()
        hit = self._entries.get((project, queue))
        if hit is not None and hit[0] and hit[1] > now:
            return hit[0]  # not IN_DEFAULT: lookups ask the catalogue, as for any unmapped queue
        cached = self._pools
        if cached is not None and not cached[0] and cached[1] > now:
            return None  # no pools: no catalogue entries to look up
        if not self.pools():  # catalogue entries need a pool: skip the lookup
            return None
        try:
            pool = self.control.catalogue.get(project, queue).pool
        except errors.QueueNotMapped:
            return None
        self._remember(project, queue, pool)
        return pool

    def pools(self) -> Pools:
        """Every registered pool, by name (cached)."""
        cached = self._pools
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        found: Pools = []
        marker = None
        while True:
            page = self.control.pools.list(marker=marker, limit=PAGE)
            found += page.items
            if len(page.items) < PAGE:
                break
            marker = page.next_marker
        self._pools = (found, self._clock() + self._ttl)
        return found

    def driver(self, name: str) -> DataDriver:
        """The (cached) data driver of pool ``name``; rebuilt if its uri or options changed."""
        pool = self._pool(name)
        with self._lock:
            known = self._drivers.get(name)
            if known is not None and _same_database(known[0], pool):
                return known[1]
            made = self._make(pool)
            self._drivers[name] = (pool, made)
        if known is not None:
            known[1].close()
        return made

    def reachable(self, pool: Pool) -> bool:
        """Whether a data driver for ``pool`` can be opened and answers (not cached)."""
        try:
            driver = self._make(pool)
        except errors.StorageUnavailable:
            return False
        try:
            return driver.is_alive()
        finally:
            driver.close()

    def invalidate(self) -> None:
        """Drop cached lookups and the cached pool list."""
        with self._lock:
            self._entries.clear()
            self._pools = None

    def close(self) -> None:
        """Close the pool drivers made here (not the default driver)."""
        with self._lock:
            made, self._drivers = list(self._drivers.values()), {}
        for _, driver in made:
            driver.close()

    def _pool(self, name: str) -> Pool:
        for attempt in range(2):
            for pool in self.pools():
                if pool.name == name:
                    return pool
            if attempt == 0:
                self._pools = None  # registered since we last looked
        raise errors.StorageUnavailable(f"Pool {name} is not registered")

    def _make(self, pool: Pool) -> DataDriver:
        try:
            return self._factory(pool)
        except errors.SqlqueueError:
            raise
        except Exception as ex:  # a bad uri or a missing database driver
            logger.warning("cannot open pool %s: %s", pool.name, ex)
            raise errors.StorageUnavailable(f"Pool {pool.name} cannot be opened") from ex

    def _in_default(self, project: str, queue: str) -> bool:
        """Whether the default database holds the queue (not a tombstone of it)."""
        try:
            return self.default.queues.exists(project, queue)
        except errors.QueueMoved:
            return False

    def _candidates(self, registered: Pools, project: str, flavor: str | None) -> Pools:
        """The pools a queue of ``flavor`` may be placed on.

        A queue with no flavor goes to the pools in no flavor (so that, say,
        a non-FIFO flavor's pools only ever hold queues that asked for it),
        or to any pool when every pool is in a flavor.
        """
        if flavor is None:
            return [pool for pool in registered if pool.flavor is None] or registered
        self.control.flavors.get(project, flavor)  # raises FlavorDoesNotExist
        return [pool for pool in registered if pool.flavor == flavor]

    def _cached(self, key: tuple[str, str]) -> str | None:
        """The queue's cached pool, ``IN_DEFAULT``, or None when not cached (or stale)."""
        hit = self._entries.get(key)
        return hit[0] if hit is not None and hit[1] > self._clock() else None

    def _remember(self, project: str, queue: str, pool: str) -> None:
        with self._lock:
            self._entries[(project, queue)] = (pool, self._clock() + self._ttl)
            self._entries.move_to_end((project, queue))
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
