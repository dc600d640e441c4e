"""Queue listings across pools, paged by name.

Names come from the catalogue (every placed queue) merged with the default
driver's own listing (queues from before pooling); metadata is fetched from
the owning pools only when the listing is detailed or filtered, so a plain
listing keeps working while a pool is down.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from itertools import islice
from operator import attrgetter
from typing import Any

from sqlqueue import errors
from sqlqueue.domain.models import CatalogueEntry, Page, QueueInfo
from sqlqueue.storage.base import Metadata
from sqlqueue.storage.pooling.routing import Router

BATCH = 100
Filters = Mapping[str, Any]


def _matches(meta: Metadata, filters: Filters) -> bool:
    return all(meta.get(key) == value for key, value in filters.items())


class QueueLister:
    """Lists one project's queues over every pool, in name order."""

    def __init__(self, router: Router) -> None:
        self._router = router

    def page(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int,
        detailed: bool,
        name: str | None,
        filters: Filters,
        with_count: bool,
    ) -> Page[QueueInfo]:
        """Up to ``limit`` queues after ``marker``; ``count`` scans them all."""
        found = islice(
            self._stream(project, marker, detailed or bool(filters), name, filters), limit
        )
        items = [info if detailed else QueueInfo(info.name) for info in found]
        count = None
        if with_count:
            count = sum(1 for _ in self._stream(project, None, bool(filters), name, filters))
        return Page(items, items[-1].name if items else None, count)

    def _stream(
        self, project: str, marker: str | None, need_meta: bool, name: str | None, filters: Filters
    ) -> Iterator[QueueInfo]:
        placed = self._placed(project, marker, need_meta, name, filters)
        legacy = self._legacy(project, marker, need_meta, name, filters)
        last = None
        for info in heapq.merge(placed, legacy, key=attrgetter("name")):
            if info.name != last:  # the default database may also be a pool
                last = info.name
                yield info

    def _placed(
        self, project: str, marker: str | None, need_meta: bool, name: str | None, filters: Filters
    ) -> Iterator[QueueInfo]:
        for entry in self._entries(project, marker):
            if name and name not in entry.queue:
                continue
            if not need_meta:
                yield QueueInfo(entry.queue)
                continue
            meta = self._metadata(entry)
            if _matches(meta, filters):
                yield QueueInfo(entry.queue, meta)

    def _entries(self, project: str, marker: str | None) -> Iterator[CatalogueEntry]:
        while True:
            page = self._router.control.catalogue.list(project, marker=marker, limit=BATCH)
            yield from page.items
            if len(page.items) < BATCH:
                return
            marker = page.next_marker

    def _metadata(self, entry: CatalogueEntry) -> Metadata:
        # PERF: one lookup per queue; pages are small (<= 20 queues).
        driver = self._router.driver(entry.pool)
        try:
            return driver.queues.get_metadata(entry.project, entry.queue)
        except errors.QueueDoesNotExist:  # placed by a subscription, not created yet
            return {}

    def _legacy(
        self, project: str, marker: str | None, need_meta: bool, name: str | None, filters: Filters
    ) -> Iterator[QueueInfo]:
        queues = self._router.default.queues
        while True:
            page = queues.list(
                project, marker=marker, limit=BATCH, detailed=need_meta, name=name, filters=filters
            )
            yield from page.items
            if len(page.items) < BATCH:
                return
            marker = page.next_marker
