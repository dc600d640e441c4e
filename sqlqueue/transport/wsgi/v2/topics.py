"""Topics: listing, create/read/patch/delete, stats and purge (docs/topics.md).

A topic is stored like a queue under its key (``TOPICS.key(name)``,
domain/namespaces.py), so each route here is the queue resource of the same
shape, addressed by the key; only what Zaqar 23 shows differently for a
topic is written here: the ``topics`` listing, three metadata defaults
instead of eight, and stats without claim counts. Topic X and queue X are
two resources: deleting or purging one leaves the other alone.
"""

from __future__ import annotations

import falcon

from sqlqueue.domain.namespaces import TOPICS
from sqlqueue.transport.wsgi import params, serializers
from sqlqueue.transport.wsgi.context import Deps, Request
from sqlqueue.transport.wsgi.v2 import queues
from sqlqueue.transport.wsgi.v2.base import Resource

LIST_PARAMS = frozenset({"marker", "limit", "detailed", "name"})
"""Every other query parameter of a topic listing filters on metadata (Zaqar 23)."""


class Collection(Resource):
    """``/v2/topics``."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """List topics by name; unknown parameters filter on metadata."""
        limit = params.page_limit(req, self._limits.max_queues_per_page)
        detailed = params.flag(req, "detailed")
        marker = req.get_param("marker")
        page = self._store.list_queues(
            req.context.project,
            marker=TOPICS.key(marker) if marker is not None else None,
            limit=limit,
            detailed=detailed,
            name=req.get_param("name"),
            filters=queues.metadata_filters(req, LIST_PARAMS),
            namespace=TOPICS,
        )
        items = [serializers.queue(info, self._limits, detailed) for info in page.items]
        last = TOPICS.name(page.next_marker) if page.items and page.next_marker else None
        resp.media = serializers.topic_listing(items, params.next_links(req, last, limit))


class Item:
    """``/v2/topics/{topic_name}``: a queue's item resource, showing three defaults."""

    def __init__(self, deps: Deps) -> None:
        self._queue = queues.Item(deps, show=serializers.topic_metadata)

    def on_put(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """Create a topic (201), or leave an existing one untouched (204).

        Both answers carry the topic's ``Location`` (Zaqar 23, topics.md section 3).
        """
        key = TOPICS.key(topic_name)
        self._queue.on_put(req, resp, key)
        resp.location = serializers.queue_path(key)

    def on_get(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """The metadata with three defaults (defaults only if the topic is missing)."""
        self._queue.on_get(req, resp, TOPICS.key(topic_name))

    def on_patch(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """Apply a JSON patch to the metadata (404 if the topic is missing)."""
        self._queue.on_patch(req, resp, TOPICS.key(topic_name))

    def on_delete(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """Delete the topic and its messages (204 even if missing); queue X stays."""
        self._queue.on_delete(req, resp, TOPICS.key(topic_name))


class Stats(Resource):
    """``/v2/topics/{topic_name}/stats``."""

    def on_get(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """``total`` and the oldest and newest messages (Zaqar's zeros if missing)."""
        project, key = req.context.project, TOPICS.key(topic_name)
        where = self._store.at(project, key)
        found = where.queues.stats(project, key)
        exists = bool(found.total) or where.queues.exists(project, key)
        resp.media = serializers.topic_stats(key, found, exists)


class Purge:
    """``/v2/topics/{topic_name}/purge``: delete its messages and/or subscriptions."""

    def __init__(self, deps: Deps) -> None:
        self._queue = queues.Purge(deps)

    def on_post(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """Purge (204); the metadata is kept."""
        self._queue.on_post(req, resp, TOPICS.key(topic_name))
