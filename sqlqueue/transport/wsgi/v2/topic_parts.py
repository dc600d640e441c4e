"""A topic's messages and subscriptions (docs/topics.md).

Each route is the queue route of the same shape, addressed by the topic's
key (domain/namespaces.py): a message posted to a topic is stored with the
topic and written to the notification outbox, in the posting transaction,
once for every live subscription of the topic (docs/notifications.md), so
it fans out to every subscriber at least once. A topic has no claims: its
messages are read (list, by id, by ids) and deleted by id or ids, never
claimed or popped.
"""

from __future__ import annotations

import falcon

from sqlqueue import errors
from sqlqueue.domain.namespaces import TOPICS
from sqlqueue.transport.wsgi import params
from sqlqueue.transport.wsgi.context import Deps, Request
from sqlqueue.transport.wsgi.v2 import messages, subscriptions
from sqlqueue.transport.wsgi.v2.base import Resource

NO_POP = "Topic messages cannot be popped or claimed; delete them by ids."


class Messages(Resource):
    """``/v2/topics/{topic_name}/messages``."""

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        self._queue = messages.Collection(deps)

    def on_post(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """Post messages (201), creating the topic if needed; each is sent to every subscriber."""
        self._queue.on_post(req, resp, TOPICS.key(topic_name))

    def on_get(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """List the topic's messages, or get the ones named by ``ids``."""
        self._queue.on_get(req, resp, TOPICS.key(topic_name))

    def on_delete(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """Delete by ``ids`` (204); ``pop`` is refused (400): nothing consumes a topic."""
        if req.get_param("pop") is not None:
            raise errors.ValidationFailed(NO_POP)
        ids = params.id_list(req, "ids", self._limits.max_messages_per_page)
        if ids is None:
            raise errors.ValidationFailed("The ids parameter is required.")
        project, key = req.context.project, TOPICS.key(topic_name)
        self._store.at(project, key).messages.bulk_delete(project, key, ids)
        resp.status = falcon.HTTP_204


class Message:
    """``/v2/topics/{topic_name}/messages/{message_id}``."""

    def __init__(self, deps: Deps) -> None:
        self._queue = messages.Item(deps)

    def on_get(self, req: Request, resp: falcon.Response, topic_name: str, message_id: str) -> None:
        """One message."""
        self._queue.on_get(req, resp, TOPICS.key(topic_name), message_id)

    def on_delete(
        self, req: Request, resp: falcon.Response, topic_name: str, message_id: str
    ) -> None:
        """Delete a message (204 if missing)."""
        self._queue.on_delete(req, resp, TOPICS.key(topic_name), message_id)


class Subscriptions:
    """``/v2/topics/{topic_name}/subscriptions``."""

    def __init__(self, deps: Deps) -> None:
        self._queue = subscriptions.Collection(deps)

    def on_get(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """List the topic's subscriptions."""
        self._queue.on_get(req, resp, TOPICS.key(topic_name))

    def on_post(self, req: Request, resp: falcon.Response, topic_name: str) -> None:
        """Subscribe to the topic (201), creating the topic if needed."""
        self._queue.on_post(req, resp, TOPICS.key(topic_name))


class Subscription:
    """``/v2/topics/{topic_name}/subscriptions/{subscription_id}``."""

    def __init__(self, deps: Deps) -> None:
        self._queue = subscriptions.Item(deps)

    def on_get(
        self, req: Request, resp: falcon.Response, topic_name: str, subscription_id: str
    ) -> None:
        """One subscription, with the state of its notifications."""
        self._queue.on_get(req, resp, TOPICS.key(topic_name), subscription_id)

    def on_patch(
        self, req: Request, resp: falcon.Response, topic_name: str, subscription_id: str
    ) -> None:
        """Change the subscriber, ttl or options."""
        self._queue.on_patch(req, resp, TOPICS.key(topic_name), subscription_id)

    def on_delete(
        self, req: Request, resp: falcon.Response, topic_name: str, subscription_id: str
    ) -> None:
        """Unsubscribe (204 even if unknown)."""
        self._queue.on_delete(req, resp, TOPICS.key(topic_name), subscription_id)


class Confirm:
    """``/v2/topics/{topic_name}/subscriptions/{subscription_id}/confirm``."""

    def __init__(self, deps: Deps) -> None:
        self._queue = subscriptions.Confirm(deps)

    def on_put(
        self, req: Request, resp: falcon.Response, topic_name: str, subscription_id: str
    ) -> None:
        """Mark a subscription confirmed or not."""
        self._queue.on_put(req, resp, TOPICS.key(topic_name), subscription_id)
