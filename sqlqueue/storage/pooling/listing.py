"""Queue listings across pools, paged by name.

Names come from the catalogue (every placed queue) merged with the default
driver's own listing (queues from before pooling); metadata is fetched from
the owning pools only when the listing is detailed or filtered, so a plain
listing keeps working while a pool is down. A listing covers one namespace
(queues or topics: one key range of the catalogue, domain/namespaces.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter
from typing import Any

from sqlqueue import errors
from sqlqueue.domain.models import CatalogueEntry, Page, QueueInfo
from sqlqueue.domain.namespaces import QUEUES, Namespace
from sqlqueue.storage.base import Metadata
from sqlqueue.storage.pooling.routing import Router

BATCH = 100
Filters = Mapping[str, Any]


def _matches(meta: Metadata, filters: Filters) -> bool:
    return all(meta.get(key) == value for key, value in filters.items())


@dataclass(frozen=True)
class _Scan:
    """What a listing keeps: one namespace, a name substring, metadata filters."""

    namespace: Namespace
    name: str | None
    filters: Filters


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
        namespace: Namespace = QUEUES,
    ) -> Page[QueueInfo]:
        """Up to ``limit`` queues after ``marker``; ``count`` scans them all."""
        scan = _Scan(namespace, name, filters)
        found = islice(self._stream(project, marker, detailed or bool(filters), scan), limit)
        items = [info if detailed else QueueInfo(info.name) for info in found]
        count = None
        if with_count:
            count = sum(1 for _ in self._stream(project, None, bool(filters), scan))
        return Page(items, items[-1].name if items else None, count)

    def _stream(
        self, project: str, marker: str | None, need_meta: bool, scan: _Scan
    ) -> Iterator[QueueInfo]:
        marker = marker if marker is not None else scan.namespace.before_first
        placed = self._placed(project, marker, need_meta, scan)
        legacy = self._legacy(project, marker, need_meta, scan)
        last = None
        for info in heapq.merge(placed, legacy, key=attrgetter("name")):
            if info.name != last:  # the default database may also be a pool
                last = info.name
                yield info

    def _placed(
        self, project: str, marker: str | None, need_meta: bool, scan: _Scan
    ) -> Iterator[QueueInfo]:
        for entry in self._entries(project, marker):
            if not scan.namespace.owns(entry.queue):
                return  # past the namespace's key range
            if scan.name and scan.name not in scan.namespace.name(entry.queue):
                continue
            if not need_meta:
                yield QueueInfo(entry.queue)
                continue
            meta = self._metadata(entry)
            if _matches(meta, scan.filters):
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
        self, project: str, marker: str | None, need_meta: bool, scan: _Scan
    ) -> Iterator[QueueInfo]:
        queues = self._router.default.queues
        while True:
            page = queues.list(
                project,
                marker=marker,
                limit=BATCH,
                detailed=need_meta,
                name=scan.name,
                filters=scan.filters,
                namespace=scan.namespace,
            )
            yield from page.items
            if len(page.items) < BATCH:
                return
            marker = page.next_marker
