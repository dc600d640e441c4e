"""Subscriptions: list, create, read, update, delete, confirm."""

from __future__ import annotations

import falcon

from sqlqueue.storage import operations
from sqlqueue.transport.wsgi import body, params, serializers
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2.base import Resource

SUBSCRIPTION_BODY_MAX = 65535
"""Options are stored as TEXT, which holds 64 KiB on MySQL."""


class Collection(Resource):
    """``/v2/queues/{queue_name}/subscriptions``."""

    def on_get(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """List a queue's subscriptions (``detailed`` is accepted and ignored)."""
        limit = params.page_limit(req, self._limits.max_subscriptions_per_page)
        project = req.context.project
        page = self._store.at(project, queue_name).subscriptions.list(
            project, queue_name, marker=req.get_param("marker"), limit=limit
        )
        items = [serializers.subscription(sub) for sub in page.items]
        links = params.next_links(req, page.next_marker if page.items else None, limit)
        resp.media = serializers.listing("subscriptions", items, links)

    def on_post(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Subscribe (201); a duplicate gets the existing id unless it is confirmed (409)."""
        document = body.read_json(req, SUBSCRIPTION_BODY_MAX)
        subscriber, ttl, options = self._validate.subscription(document)
        sub_id = operations.subscribe(
            self._store, req.context.project, queue_name, subscriber, ttl, options
        )
        resp.status = falcon.HTTP_201
        resp.location = f"{serializers.queue_path(queue_name)}/subscriptions"
        resp.media = serializers.subscription_created(sub_id)


class Item(Resource):
    """``/v2/queues/{queue_name}/subscriptions/{subscription_id}``."""

    def on_get(
        self, req: Request, resp: falcon.Response, queue_name: str, subscription_id: str
    ) -> None:
        """One subscription, with the state of its notifications (``delivery``)."""
        project = req.context.project
        subs = self._store.at(project, queue_name).subscriptions
        sub = subs.get(project, queue_name, subscription_id)
        stats = subs.delivery_stats(project, queue_name, subscription_id)
        resp.media = {
            **serializers.subscription(sub),
            "delivery": serializers.delivery_state(stats),
        }

    def on_patch(
        self, req: Request, resp: falcon.Response, queue_name: str, subscription_id: str
    ) -> None:
        """Change the subscriber, ttl or options (409 if the subscriber is taken)."""
        changes = self._validate.subscription_update(body.read_json(req, SUBSCRIPTION_BODY_MAX))
        project = req.context.project
        where = self._store.at(project, queue_name)
        where.subscriptions.update(project, queue_name, subscription_id, **changes)
        resp.status = falcon.HTTP_204

    def on_delete(
        self, req: Request, resp: falcon.Response, queue_name: str, subscription_id: str
    ) -> None:
        """Unsubscribe (204 even if unknown)."""
        project = req.context.project
        self._store.at(project, queue_name).subscriptions.delete(
            project, queue_name, subscription_id
        )
        resp.status = falcon.HTTP_204


class Confirm(Resource):
    """``/v2/queues/{queue_name}/subscriptions/{subscription_id}/confirm``."""

    def on_put(
        self, req: Request, resp: falcon.Response, queue_name: str, subscription_id: str
    ) -> None:
        """Mark a subscription confirmed or not."""
        confirmed = self._validate.confirm(body.read_json(req, SUBSCRIPTION_BODY_MAX))
        project = req.context.project
        where = self._store.at(project, queue_name)
        where.subscriptions.confirm(project, queue_name, subscription_id, confirmed)
        resp.status = falcon.HTTP_204
