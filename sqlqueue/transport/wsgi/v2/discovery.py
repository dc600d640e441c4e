"""Discovery and health: versions, the home document, OpenAPI, ping, health."""

from __future__ import annotations

import json

import falcon

from sqlqueue import errors
from sqlqueue.domain.limits import Limits
from sqlqueue.transport.wsgi import serializers
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2 import documents
from sqlqueue.transport.wsgi.v2.base import Resource, require_admin


class Versions:
    """``GET /``: the API versions (300 Multiple Choices, as Zaqar)."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """List the versions served."""
        resp.status = falcon.HTTP_300
        resp.media = documents.VERSIONS


class HomeDocument:
    """``GET /v2/``: a JSON-home document of the API (admin rels in admin mode)."""

    def __init__(self, admin: bool = False, control: bool = True) -> None:
        self._data = json.dumps(documents.home(admin, control)).encode("utf-8")

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """The home document, cacheable for a day."""
        resp.data = self._data
        resp.content_type = "application/json-home"
        resp.cache_control = ["max-age=86400"]


class OpenApi:
    """``GET /v2/openapi.json``: an OpenAPI 3.1 description of the routes."""

    def __init__(
        self,
        admin: bool = False,
        limits: Limits | None = None,
        control: bool = True,
        metrics: bool = False,
        *,
        keystone: bool = False,
    ) -> None:
        self._doc = documents.openapi(admin, limits, control, metrics, keystone=keystone)

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """The OpenAPI document (describing the configured limits)."""
        resp.media = self._doc


class Ping(Resource):
    """``/v2/ping``: 204 while the storage answers, else 503.

    With pools, "the storage" is the catalogue and default database that
    every request needs; a pool that is down fails only its own queues (and
    shows in ``/v2/health``), so it does not take the whole service out of
    a load balancer.
    """

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """Check the storage."""
        admin = self._deps.admin
        alive = admin.alive() if admin is not None else self._store.is_alive()
        if not alive:
            raise errors.StorageUnavailable("The storage is not reachable.")
        resp.status = falcon.HTTP_204

    on_head = on_get


class Health(Resource):
    """``GET /v2/health`` (admin mode only): the catalogue and every pool.

    Each database answers one ``SELECT 1`` and one count of its live
    messages; no test queue is created (unlike Zaqar's).
    """

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """Report reachability and message volume."""
        require_admin(req, self._deps.settings)
        admin = self._deps.admin
        if admin is None:
            resp.media = serializers.health(self._store.is_alive())
            return
        resp.media = serializers.health_report(admin.health())
