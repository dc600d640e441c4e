"""Claims: create, read, renew, release."""

from __future__ import annotations

import falcon

from sqlqueue.domain.models import Message
from sqlqueue.transport.wsgi import body, longpoll, params, serializers
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2.base import Resource

CLAIM_BODY_MAX = 4096


class Collection(Resource):
    """``/v2/queues/{queue_name}/claims``."""

    def on_post(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Claim up to ``limit`` messages (201), or answer 204 when none are free.

        With ``wait`` (seconds), a claim that finds nothing waits for a post.
        """
        limit = params.page_limit(req, self._limits.max_messages_per_claim_or_pop)
        wait = longpoll.wait_param(req)
        document = body.read_json(req, CLAIM_BODY_MAX, required=False)
        ttl, grace = self._validate.claim(document)
        project = req.context.project

        def attempt() -> tuple[str | None, list[Message]]:
            return self._store.at(project, queue_name).claims.create(
                project, queue_name, ttl=ttl, grace=grace, limit=limit
            )

        look = longpoll.Look(
            attempt,
            found=lambda got: bool(got[1]),
            consumes=True,
            full=lambda got: len(got[1]) >= limit,
        )
        claim_id, msgs = longpoll.long_poll(
            self._store, project, queue_name, wait, look, longpoll.on_disconnect(req)
        )
        if claim_id is None or not msgs:
            resp.status = falcon.HTTP_204
            return
        resp.status = falcon.HTTP_201
        resp.location = serializers.claim_path(queue_name, claim_id)
        resp.media = serializers.message_set(queue_name, msgs)


class Item(Resource):
    """``/v2/queues/{queue_name}/claims/{claim_id}``."""

    def on_get(self, req: Request, resp: falcon.Response, queue_name: str, claim_id: str) -> None:
        """A live claim with its messages."""
        meta, msgs = self._store.at(req.context.project, queue_name).claims.get(
            req.context.project, queue_name, claim_id
        )
        resp.media = serializers.claim(queue_name, meta, msgs)

    def on_patch(self, req: Request, resp: falcon.Response, queue_name: str, claim_id: str) -> None:
        """Renew a claim (missing ttl/grace take the defaults)."""
        ttl, grace = self._validate.claim(body.read_json(req, CLAIM_BODY_MAX))
        self._store.at(req.context.project, queue_name).claims.update(
            req.context.project, queue_name, claim_id, ttl=ttl, grace=grace
        )
        resp.status = falcon.HTTP_204

    def on_delete(
        self, req: Request, resp: falcon.Response, queue_name: str, claim_id: str
    ) -> None:
        """Release a claim's messages (204 even if unknown)."""
        self._store.at(req.context.project, queue_name).claims.delete(
            req.context.project, queue_name, claim_id
        )
        resp.status = falcon.HTTP_204
