"""Pools (admin): the databases queues are placed on."""

from __future__ import annotations

import falcon

from sqlqueue.transport.wsgi import body, params, serializers
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2.base import AdminResource

ADMIN_BODY_MAX = 65536


class Collection(AdminResource):
    """``/v2/pools``."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """List pools by name (``detailed``: with their options)."""
        self._authorize(req)
        limit = params.page_limit(req, self._limits.max_pools_per_page)
        detailed = params.flag(req, "detailed")
        page = self._admin.pools.list(marker=req.get_param("marker"), limit=limit)
        items = [serializers.pool(found, detailed) for found in page.items]
        links = params.next_links(req, page.next_marker if page.items else None, limit)
        resp.media = serializers.listing("pools", items, links)


class Item(AdminResource):
    """``/v2/pools/{pool_name}``."""

    def on_put(self, req: Request, resp: falcon.Response, pool_name: str) -> None:
        """Register or replace a pool once its database answers with the current schema.

        409 for another pool's uri, or a new uri while the pool holds queues.
        """
        self._authorize(req)
        fields = self._validate.pool(body.read_json(req, ADMIN_BODY_MAX))
        self._admin.pools.put(pool_name, **fields)
        resp.status = falcon.HTTP_201
        resp.location = serializers.pool_path(pool_name)

    def on_get(self, req: Request, resp: falcon.Response, pool_name: str) -> None:
        """One pool (``detailed``: with its options)."""
        self._authorize(req)
        found = self._admin.pools.get(pool_name)
        resp.media = serializers.pool(found, params.flag(req, "detailed"))

    def on_patch(self, req: Request, resp: falcon.Response, pool_name: str) -> None:
        """Change some of a pool's uri, weight, flavor and options; answer the pool.

        409 as ``on_put``.
        """
        self._authorize(req)
        fields = self._validate.pool_patch(body.read_json(req, ADMIN_BODY_MAX))
        found = self._admin.pools.update(pool_name, fields)
        resp.media = serializers.pool(found, detailed=False)

    def on_delete(self, req: Request, resp: falcon.Response, pool_name: str) -> None:
        """Remove a pool (204 even if unknown; 403 while it holds queues)."""
        self._authorize(req)
        self._admin.pools.delete(pool_name)
        resp.status = falcon.HTTP_204
