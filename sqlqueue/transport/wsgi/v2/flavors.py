"""Flavors (admin): per-project groups of pools that queues choose with ``_flavor``.

Reading flavors is open to every caller (Zaqar's policy); changing them
needs the admin role.
"""

from __future__ import annotations

import falcon

from sqlqueue.transport.wsgi import body, params, serializers
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2.base import AdminResource
from sqlqueue.transport.wsgi.v2.pools import ADMIN_BODY_MAX


class Collection(AdminResource):
    """``/v2/flavors``."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """List the project's flavors by name (``detailed``: with capabilities)."""
        limit = params.page_limit(req, self._limits.max_flavors_per_page)
        detailed = params.flag(req, "detailed")
        page = self._admin.flavors.list(
            req.context.project, marker=req.get_param("marker"), limit=limit
        )
        items = [serializers.flavor(found, detailed) for found in page.items]
        links = params.next_links(req, page.next_marker if page.items else None, limit)
        resp.media = serializers.listing("flavors", items, links)


class Item(AdminResource):
    """``/v2/flavors/{flavor_name}``."""

    def on_put(self, req: Request, resp: falcon.Response, flavor_name: str) -> None:
        """Create or replace a flavor; its pools join it (and others leave it)."""
        self._authorize(req)
        pool_list, capabilities = self._validate.flavor(body.read_json(req, ADMIN_BODY_MAX))
        self._admin.flavors.put(req.context.project, flavor_name, pool_list, capabilities)
        resp.status = falcon.HTTP_201
        resp.location = serializers.flavor_path(flavor_name)

    def on_get(self, req: Request, resp: falcon.Response, flavor_name: str) -> None:
        """One flavor with its pools and their capabilities."""
        found = self._admin.flavors.get(req.context.project, flavor_name)
        resp.media = serializers.flavor(found, detailed=True)

    def on_patch(self, req: Request, resp: falcon.Response, flavor_name: str) -> None:
        """Give a flavor a new pool list; answer the flavor."""
        self._authorize(req)
        pool_list, capabilities = self._validate.flavor(body.read_json(req, ADMIN_BODY_MAX))
        project = req.context.project
        found = self._admin.flavors.update(project, flavor_name, pool_list, capabilities)
        resp.media = serializers.flavor(found, detailed=True)

    def on_delete(self, req: Request, resp: falcon.Response, flavor_name: str) -> None:
        """Delete a flavor (204 even if unknown); its pools leave it."""
        self._authorize(req)
        self._admin.flavors.delete(req.context.project, flavor_name)
        resp.status = falcon.HTTP_204
