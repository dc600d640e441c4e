"""The dashboard's snapshot, assembled from the databases, the catalogue and the queues.

Cost: two grouped counts per database (queues, topics), one queue and one
topic listing and one flavor listing per project shown, and one stats and
one metadata read per queue or topic shown (``storage/sql/counters.py``:
independent of a queue's depth), so a snapshot is bounded by ``limit``
queues and ``limit`` topics, not by how many messages they hold.
A database that does not answer is shown down and its queues without
numbers; the rest of the snapshot is unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from sqlqueue import errors
from sqlqueue.control.base import FlavorService, PoolService
from sqlqueue.domain.clock import Clock
from sqlqueue.domain.models import FlavorView, Pool, QueueStats
from sqlqueue.domain.namespaces import QUEUES, TOPICS, Namespace
from sqlqueue.domain.overview import DatabaseSnapshot, Overview, QueueSnapshot
from sqlqueue.storage.base import DataDriver, QueueStore

logger = logging.getLogger(__name__)

Opener = Callable[[], DataDriver]
PAGE = 100
"""Queues listed per storage call."""


class OverviewBuilder:
    """Takes snapshots of every database a pooled store routes to.

    Args:
        store: resolves queues to their databases (and lists them).
        default: opens the default (catalogue) database's data driver.
        pool_driver: opens a registered pool's data driver by name.
        pools, flavors: the control plane's registries.
        volume: live message counts of a database's driver (None: cannot tell).
        clock: stamps the snapshot.
    """

    def __init__(
        self,
        store: QueueStore,
        default: Opener,
        pool_driver: Callable[[str], DataDriver],
        pools: PoolService,
        flavors: FlavorService,
        volume: Callable[[DataDriver], QueueStats | None],
        clock: Clock,
    ) -> None:
        self._volume = volume
        self._store = store
        self._default = default
        self._pool_driver = pool_driver
        self._pools = pools
        self._flavors = flavors
        self._clock = clock

    def snapshot(self, limit: int) -> Overview:
        """Up to ``limit`` queues with their stats, every database, every known flavor.

        :raises StorageUnavailable: the catalogue database does not answer.
        """
        databases = [self._database(None, self._default)]
        for pool in self._pools.all():
            databases.append(self._database(pool, partial(self._pool_driver, pool.name)))
        projects = _summed(counts[QUEUES] for _, counts in databases)
        project_topics = _summed(counts[TOPICS] for _, counts in databases)
        queues = list(self._queues(sorted(projects), limit + 1, QUEUES))
        topics = list(self._queues(sorted(project_topics), limit + 1, TOPICS))
        return Overview(
            taken_at=self._clock(),
            projects=projects,
            queues=queues[:limit],
            truncated=len(queues) > limit,
            databases=[snapshot for snapshot, _ in databases],
            flavors=self._flavors_of(sorted({queue.project for queue in queues[:limit]})),
            topics=topics[:limit],
            topics_truncated=len(topics) > limit,
            project_topics=project_topics,
        )

    def _database(
        self, pool: Pool | None, opener: Opener
    ) -> tuple[DatabaseSnapshot, dict[Namespace, dict[str, int]]]:
        """The database's snapshot, and its queues and topics per project (none if down)."""
        weight, flavor = (pool.weight, pool.flavor) if pool else (None, None)
        name = pool.name if pool else None
        try:
            driver = opener()
            counts = {space: driver.queues.projects(space) for space in (QUEUES, TOPICS)}
        except errors.StorageUnavailable as ex:
            logger.warning("dashboard: database %s is unavailable: %s", name or "default", ex)
            return DatabaseSnapshot(name, False, weight, flavor), {QUEUES: {}, TOPICS: {}}
        volume = self._volume(driver)
        queues = sum(counts[QUEUES].values())
        return DatabaseSnapshot(name, True, weight, flavor, queues, volume), counts

    def _queues(
        self, projects: list[str], limit: int, namespace: Namespace
    ) -> Iterator[QueueSnapshot]:
        """Queues (or topics) by project and name, up to ``limit``; stats are read as it goes."""
        left = limit
        for project in projects:
            marker: str | None = None
            while left > 0:
                want = min(left, PAGE)
                page = self._store.list_queues(
                    project, marker=marker, limit=want, namespace=namespace
                )
                for info in page.items:
                    yield self._queue(project, info.name, namespace)
                left -= len(page.items)
                if len(page.items) < want or page.next_marker is None:
                    break
                marker = page.next_marker

    def _queue(self, project: str, key: str, namespace: Namespace) -> QueueSnapshot:
        """A queue's stats and metadata; None for both while its database does not answer."""
        name = namespace.name(key)
        try:
            queues = self._store.at(project, key).queues
            return QueueSnapshot(
                project, name, queues.stats(project, key), queues.get_metadata(project, key)
            )
        except errors.QueueDoesNotExist:  # deleted since it was listed
            return QueueSnapshot(project, name, QueueStats(0, 0, 0))
        except errors.StorageUnavailable as ex:
            logger.warning("dashboard: queue %s of %s is unavailable: %s", key, project, ex)
            return QueueSnapshot(project, name, None, None)

    def _flavors_of(self, projects: list[str]) -> list[FlavorView]:
        found: list[FlavorView] = []
        for project in projects:
            found += self._flavors.list(project, limit=PAGE).items
        return found


def _summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Per-project counts added over databases, by project."""
    total: dict[str, int] = {}
    for per_project in counts:
        for project, count in per_project.items():
            total[project] = total.get(project, 0) + count
    return dict(sorted(total.items()))
