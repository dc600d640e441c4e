"""Messages: post, list, get by ids, bulk delete, pop; one message get/delete."""

from __future__ import annotations

import falcon

from sqlqueue import errors
from sqlqueue.domain.models import Message, Page
from sqlqueue.storage import operations
from sqlqueue.transport.wsgi import body, longpoll, params, schemas, serializers
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2.base import Resource


class Collection(Resource):
    """``/v2/queues/{queue_name}/messages``."""

    def on_post(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Post a batch of messages, creating the queue if needed."""
        project = req.context.project
        limit = self._limits.max_messages_post_size
        raw = body.read_raw(req, limit, "Message collection size")
        batch = self._validate.messages(body.decode(raw))
        # The queue's own _max_messages_post_size is checked by the storage, in
        # the transaction that reads the queue anyway (no extra round trip).
        size = len(raw)
        ids = self._store.placing(project, queue_name).messages.post(
            project, queue_name, batch, req.context.client_id, size=size
        )
        location, doc = serializers.posted(queue_name, ids, schemas.LOCATION_MAX)
        resp.status = falcon.HTTP_201
        resp.location = location
        resp.media = doc

    def on_get(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """List messages, or get the ones named by ``ids``."""
        ids = params.id_list(req, "ids", self._limits.max_messages_per_page)
        if ids is not None:
            self._get_many(req, resp, queue_name, ids)
            return
        limit = params.page_limit(req, self._limits.max_messages_per_page)
        wait = longpoll.wait_param(req)
        project = req.context.project

        def attempt() -> Page[Message]:
            return self._store.at(project, queue_name).messages.list(
                project,
                queue_name,
                marker=req.get_param("marker"),
                limit=limit,
                echo=params.flag(req, "echo"),
                client_id=req.context.client_id,
                include_claimed=params.flag(req, "include_claimed"),
                include_delayed=params.flag(req, "include_delayed"),
            )

        look = longpoll.Look(attempt, found=lambda got: bool(got.items))
        page = longpoll.long_poll(
            self._store, project, queue_name, wait, look, longpoll.on_disconnect(req)
        )
        links = params.next_links(req, page.next_marker if page.items else None, limit)
        resp.media = serializers.listing(
            "messages", serializers.messages(queue_name, page.items), links
        )

    def on_delete(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Delete by ``ids`` (204) or pop ``pop`` unclaimed messages (200)."""
        ids = params.id_list(req, "ids", self._limits.max_messages_per_page)
        pop = req.get_param_as_int(
            "pop", min_value=1, max_value=self._limits.max_messages_per_claim_or_pop
        )
        if (ids is None) == (pop is None):
            raise errors.ValidationFailed("Exactly one of the ids and pop parameters is required.")
        project = req.context.project
        if pop is not None:
            resp.media = serializers.popped(
                self._store.at(project, queue_name).messages.pop(project, queue_name, pop)
            )
            return
        claim_ids = self._claim_ids(req)
        self._store.at(project, queue_name).messages.bulk_delete(
            project, queue_name, ids or [], claim_ids
        )
        resp.status = falcon.HTTP_204

    def _get_many(self, req: Request, resp: falcon.Response, queue: str, ids: list[str]) -> None:
        found = self._store.at(req.context.project, queue).messages.bulk_get(
            req.context.project, queue, ids
        )
        if not found:
            raise errors.MessageDoesNotExist("None of the messages exist.")
        resp.media = serializers.message_set(queue, found)

    def _claim_ids(self, req: Request) -> list[str] | None:
        if not self._limits.message_delete_with_claim_id:
            return None
        claim_ids = params.id_list(req, "claim_ids", self._limits.max_messages_per_page)
        if not claim_ids:
            raise errors.ValidationFailed("claim_ids is required to delete messages by ids.")
        return claim_ids


class Item(Resource):
    """``/v2/queues/{queue_name}/messages/{message_id}``."""

    def on_get(self, req: Request, resp: falcon.Response, queue_name: str, message_id: str) -> None:
        """One message (its href carries its claim id when claimed)."""
        msg = self._store.at(req.context.project, queue_name).messages.get(
            req.context.project, queue_name, message_id
        )
        resp.media = serializers.message(queue_name, msg)

    def on_delete(
        self, req: Request, resp: falcon.Response, queue_name: str, message_id: str
    ) -> None:
        """Delete a message, with the claim id if it is claimed (204 if missing)."""
        claim_id = req.get_param("claim_id")
        operations.delete_message(
            self._store, req.context.project, queue_name, message_id, claim_id
        )
        resp.status = falcon.HTTP_204
