"""Collecting the tombstones moved queues leave behind, once no worker can need them.

A tombstone (storage/sql/moves.py) sends a worker whose cached placement
still names the pool a queue left on to the pool it went to. Workers cache
placements for ``catalogue_cache_seconds``, counted from their catalogue
read. A move touches its tombstone after pointing the catalogue at the
target (also when ``queue move --resume`` completes it), so once a
tombstone is older than the cache, and the catalogue no longer names its
pool for the queue, no worker routes there by the old placement. The rule:

* older than ``max(KEEP_FACTOR x catalogue_cache_seconds, MIN_KEEP_SECONDS)``
  (margin for requests in flight between their catalogue read and their
  statement, and for clocks of workers that differ a little), and
* the catalogue maps the queue to another pool, or not at all (deleted).

A tombstone whose move was interrupted after the source's commit (the
catalogue still names its pool until ``--resume``) is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlqueue import errors
from sqlqueue.domain.clock import Clock
from sqlqueue.storage.base import DataDriver
from sqlqueue.storage.pooling.routing import Router

logger = logging.getLogger(__name__)

KEEP_FACTOR = 2
"""Tombstones are kept this many catalogue cache lifetimes after their move."""
MIN_KEEP_SECONDS = 60.0
"""And at least this long, whatever the cache lifetime (even 0)."""
PAGE = 100
"""Tombstones read per pool per pass."""


def keep_seconds(cache_seconds: float) -> float:
    """How long a tombstone is kept after its move (seconds)."""
    return max(KEEP_FACTOR * cache_seconds, MIN_KEEP_SECONDS)


class TombstoneCollector:
    """Deletes the tombstones of every pool that no worker can still route to.

    Args:
        router: the pools, their drivers and the catalogue.
        clock: the time source (seconds), as the databases' ``now_ms``.
        keep: seconds a tombstone is kept after its move (``keep_seconds``).
    """

    def __init__(self, router: Router, clock: Clock, keep: float) -> None:
        self._router = router
        self._clock = clock
        self._keep_ms = int(keep * 1000)

    def collect(self, progress: Callable[[int], None] | None = None) -> int:
        """One pass over every pool that answers; how many tombstones went."""
        removed = 0
        for pool in self._router.pools():
            try:
                gone = self._collect(pool.name, self._router.driver(pool.name))
            except errors.StorageUnavailable as ex:
                logger.warning("tombstones of pool %s skipped: %s", pool.name, ex)
                continue
            removed += gone
            if progress is not None and gone:
                progress(gone)
        return removed

    def _collect(self, pool: str, driver: DataDriver) -> int:
        before = int(self._clock() * 1000) - self._keep_ms
        removed = 0
        for tombstone in driver.tombstones(before, PAGE):
            if self._routed_here(tombstone.project, tombstone.queue, pool):
                continue  # a move that ended at the source's commit: --resume first
            if driver.forget_tombstone(tombstone):
                logger.info(
                    "forgot the tombstone of %s/%s in pool %s (moved to %s)",
                    tombstone.project,
                    tombstone.queue,
                    pool,
                    tombstone.pool,
                )
                removed += 1
        return removed

    def _routed_here(self, project: str, queue: str, pool: str) -> bool:
        try:
            return self._router.control.catalogue.get(project, queue).pool == pool
        except errors.QueueNotMapped:
            return False
