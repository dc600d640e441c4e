"""The catalogue (admin): which pool holds each queue."""

from __future__ import annotations

import falcon

from sqlqueue.transport.wsgi import body, params, serializers
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2.base import AdminResource

MOVE_BODY_MAX = 4096


class Collection(AdminResource):
    """``/v2/catalogue``: every placement, or one project's (``?project=``)."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """List placements by project and queue name."""
        self._authorize(req)
        limit = params.page_limit(req, self._limits.max_queues_per_page)
        page = self._admin.catalogue(
            req.get_param("project"), marker=req.get_param("marker"), limit=limit
        )
        items = [serializers.catalogue_entry(entry) for entry in page.items]
        links = params.next_links(req, page.next_marker if page.items else None, limit)
        resp.media = serializers.listing("catalogue", items, links)


class Item(AdminResource):
    """``/v2/catalogue/{queue_name}``: the pool of one of the caller's queues."""

    def on_get(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Where the queue lives (404 when on no pool)."""
        self._authorize(req)
        entry = self._admin.placement(req.context.project, queue_name)
        resp.media = serializers.catalogue_entry(entry)

    def on_put(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Move the queue to the pool the body names, while it is in use (issue 14).

        409 when the move is refused (same pool, the queue on no pool, the
        target holding a queue of that name or its message ids); 404 for an
        unknown pool or a queue that does not exist.
        """
        self._authorize(req)
        pool = self._validate.queue_move(body.read_json(req, MOVE_BODY_MAX))
        result = self._admin.move_queue(req.context.project, queue_name, pool)
        resp.media = serializers.queue_moved(result)
