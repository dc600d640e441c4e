"""Gauges read from storage when Prometheus scrapes: queue depth and age, pools, catalogue.

Nothing is kept between scrapes: each scrape asks the storage, within a
time budget (``timeout`` seconds), for

* the ``queues`` deepest queues of every project (all of them when there
  are fewer), ranked by their row counters in one query per database, then
  each one's exact stats (free, claimed, oldest message) in a few index
  look-ups (storage/sql/counters.py): no query scans messages;
* whether the catalogue database and each pool answer, and how many queues
  the catalogue places.

Queues not reached within the budget are left out and
``sqlqueue_scrape_truncated`` is 1.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from sqlqueue import errors
from sqlqueue.control.base import ControlPlaneService
from sqlqueue.domain import namespaces
from sqlqueue.storage.base import QueueStore

logger = logging.getLogger(__name__)

QUEUE_LABELS = ["project", "queue"]


class StoreGauges:
    """A Prometheus collector of the storage's state (register it on a registry).

    Args:
        store: the queues, through the storage contract.
        admin: the control plane (pools, catalogue); None for a bare driver.
        queues: how many of the deepest queues get per-queue gauges (0: none).
        timeout: seconds a scrape may spend asking the storage.
        clock: a monotonic time source in seconds.
    """

    def __init__(
        self,
        store: QueueStore,
        admin: ControlPlaneService | None,
        *,
        queues: int,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._admin = admin
        self._queues = queues
        self._timeout = timeout
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        """The gauges as they are now (called by the registry on every scrape)."""
        started = self._clock()
        deadline = started + self._timeout
        yield from self._control_plane()
        depth, age, truncated = self._queue_gauges(deadline)
        yield depth
        yield age
        yield GaugeMetricFamily(
            "sqlqueue_scrape_truncated",
            "1 when the scrape timeout left out some of the deepest queues' gauges.",
            value=1 if truncated else 0,
        )
        yield GaugeMetricFamily(
            "sqlqueue_scrape_duration_seconds",
            "Time this scrape spent reading the storage's gauges.",
            value=self._clock() - started,
        )

    def _control_plane(self) -> Iterator[Metric]:
        up = self._admin.alive() if self._admin is not None else self._store.is_alive()
        yield GaugeMetricFamily(
            "sqlqueue_catalogue_up",
            "1 when the catalogue (default) database answers.",
            value=1 if up else 0,
        )
        if self._admin is None or not up:
            return
        try:
            pools, placed = self._admin.pools_up(), self._admin.catalogue_size()
        except errors.StorageUnavailable as ex:
            logger.warning("metrics: the catalogue did not answer: %s", ex)
            return
        pool_up = GaugeMetricFamily(
            "sqlqueue_pool_up", "1 when a registered pool's database answers.", labels=["pool"]
        )
        for name, alive in sorted(pools.items()):
            pool_up.add_metric([name], 1 if alive else 0)
        yield pool_up
        yield GaugeMetricFamily(
            "sqlqueue_catalogue_queues",
            "Queues the catalogue places on pools (queues of the default database are not placed).",
            value=placed,
        )

    def _queue_gauges(self, deadline: float) -> tuple[Metric, Metric, bool]:
        depth = GaugeMetricFamily(
            "sqlqueue_queue_messages",
            "Messages in a queue by state (free, claimed), for the deepest queues.",
            labels=[*QUEUE_LABELS, "state"],
        )
        age = GaugeMetricFamily(
            "sqlqueue_queue_oldest_message_age_seconds",
            "Age of a queue's oldest live message (0 when empty), for the deepest queues.",
            labels=QUEUE_LABELS,
        )
        if self._queues <= 0:
            return depth, age, False
        try:
            ranked = self._store.deepest_queues(self._queues)
            for index, queue in enumerate(ranked):
                if self._clock() > deadline:
                    return depth, age, index < len(ranked)
                if namespaces.TOPICS.owns(queue.name):
                    continue  # a topic's messages are delivered, not consumed: no depth
                stats = self._store.at(queue.project, queue.name).queues.stats(
                    queue.project, queue.name
                )
                labels = [queue.project, queue.name]
                depth.add_metric([*labels, "free"], stats.free)
                depth.add_metric([*labels, "claimed"], stats.claimed)
                age.add_metric(labels, stats.oldest.age if stats.oldest else 0)
        except errors.StorageUnavailable as ex:
            logger.warning("metrics: queue gauges cut short: %s", ex)
            return depth, age, True
        return depth, age, False
