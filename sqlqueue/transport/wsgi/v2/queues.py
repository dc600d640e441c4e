"""Queues: listing, create/read/patch/delete, stats and purge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from sqlqueue import errors
from sqlqueue.domain import policy
from sqlqueue.domain.limits import Limits
from sqlqueue.storage import operations
from sqlqueue.transport.wsgi import body, params, serializers
from sqlqueue.transport.wsgi.context import Deps, Request
from sqlqueue.transport.wsgi.errors import InvalidBody
from sqlqueue.transport.wsgi.v2.base import Resource

LIST_PARAMS = frozenset({"marker", "limit", "detailed", "name", "with_count"})
PATCH_TYPE = "application/openstack-messaging-v2.0-json-patch"


class Collection(Resource):
    """``/v2/queues``."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """List queues by name; unknown parameters filter on metadata."""
        limit = params.page_limit(req, self._limits.max_queues_per_page)
        detailed = params.flag(req, "detailed")
        with_count = params.flag(req, "with_count")
        page = self._store.list_queues(
            req.context.project,
            marker=req.get_param("marker"),
            limit=limit,
            detailed=detailed,
            name=req.get_param("name"),
            filters=metadata_filters(req, LIST_PARAMS),
            with_count=with_count,
        )
        items = [serializers.queue(q, self._limits, detailed) for q in page.items]
        links = params.next_links(req, page.next_marker if page.items else None, limit)
        resp.media = serializers.queue_listing(items, links, page.count if with_count else None)


def metadata_filters(req: Request, known: frozenset[str]) -> dict[str, Any]:
    """The query parameters other than ``known``: metadata equality filters
    (a value that parses as an integer filters on that integer, as Zaqar)."""
    found: dict[str, Any] = {}
    for key, value in params.raw_query(req).items():
        if key in known:
            continue
        text = value[-1] if isinstance(value, list) else value
        try:
            found[key] = int(text)
        except ValueError:
            found[key] = text
    return found


Show = Callable[[dict[str, Any], Limits], dict[str, Any]]


class Item(Resource):
    """``/v2/queues/{queue_name}``.

    ``show`` renders stored metadata with its defaults (a topic shows fewer).
    """

    def __init__(self, deps: Deps, show: Show = serializers.metadata) -> None:
        super().__init__(deps)
        self._show = show

    def on_put(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Create a queue (201), or leave an existing one untouched (204)."""
        document = body.read_json(req, self._limits.max_queue_metadata, required=False)
        metadata = self._validate.metadata(document)
        try:
            created = self._store.create_queue(req.context.project, queue_name, metadata)
        except errors.FlavorDoesNotExist as ex:  # the body names it: a bad request, not a 404
            raise InvalidBody(f"_flavor: {ex}") from ex
        if created:
            resp.status = falcon.HTTP_201
            resp.location = serializers.queue_path(queue_name)
        else:
            resp.status = falcon.HTTP_204

    def on_get(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """The metadata with reserved defaults (defaults only if the queue is missing)."""
        resp.media = self._show(self._stored(req, queue_name), self._limits)

    def on_patch(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Apply a JSON patch to the metadata; answer the result."""
        if (req.content_type or "").split(";")[0].strip().lower() != PATCH_TYPE:
            raise falcon.HTTPUnsupportedMediaType(
                description=f"Accepted media type for PATCH: {PATCH_TYPE}."
            )
        ops = self._validate.patch(body.read_json(req, self._limits.max_queue_metadata))
        project = req.context.project
        before: list[Any] = [None]

        def change(stored: dict[str, Any]) -> dict[str, Any]:
            before[0] = stored.get(policy.FLAVOR)
            metadata = self._validate.apply(stored, ops)
            # Places its dead-letter queue beside it; a refusal writes nothing.
            self._store.placing(project, queue_name, metadata)
            return metadata

        where = self._store.at(project, queue_name)
        metadata = where.queues.update_metadata(project, queue_name, change)
        flavor = metadata.get(policy.FLAVOR)
        if self._deps.admin is not None and isinstance(flavor, str) and flavor != before[0]:
            # Unlike Zaqar, a new _flavor takes the queue to a pool of that flavor.
            self._deps.admin.follow_flavor(project, queue_name, flavor)
        resp.media = self._show(metadata, self._limits)

    def on_delete(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Delete the queue and its messages (204 even if missing)."""
        self._store.delete_queue(req.context.project, queue_name)
        resp.status = falcon.HTTP_204

    def _stored(self, req: Request, queue_name: str) -> dict[str, Any]:
        try:
            project = req.context.project
            return self._store.at(project, queue_name).queues.get_metadata(project, queue_name)
        except errors.QueueDoesNotExist:  # Zaqar v2: a missing queue reads as defaults
            return {}


class Stats(Resource):
    """``/v2/queues/{queue_name}/stats``."""

    def on_get(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Message counts (zeros for a missing queue)."""
        project = req.context.project
        found = self._store.at(project, queue_name).queues.stats(project, queue_name)
        resp.media = serializers.stats(queue_name, found)


class Purge(Resource):
    """``/v2/queues/{queue_name}/purge``.

    Unlike Zaqar (which pops, so claimed messages survive), purging messages
    deletes every message of the queue, claimed and delayed ones included.
    """

    def on_post(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Delete the queue's messages and/or subscriptions; keep its metadata."""
        document = body.read_json(req, self._limits.max_queue_metadata, required=False)
        kinds = self._validate.purge(document)
        operations.purge(self._store, req.context.project, queue_name, kinds)
        resp.status = falcon.HTTP_204
