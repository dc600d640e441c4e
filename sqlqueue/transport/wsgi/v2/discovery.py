"""Discovery and health: versions, the home document, OpenAPI, ping, health."""

from __future__ import annotations

import json

import falcon

from sqlqueue import errors
from sqlqueue.transport.wsgi import serializers
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2 import documents
from sqlqueue.transport.wsgi.v2.base import Resource


class Versions:
    """``GET /``: the API versions (300 Multiple Choices, as Zaqar)."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """List the versions served."""
        resp.status = falcon.HTTP_300
        resp.media = documents.VERSIONS


class HomeDocument:
    """``GET /v2/``: a JSON-home document of the API."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """The home document, cacheable for a day."""
        resp.data = json.dumps(documents.HOME).encode("utf-8")
        resp.content_type = "application/json-home"
        resp.cache_control = ["max-age=86400"]


class OpenApi:
    """``GET /v2/openapi.json``: an OpenAPI 3.1 description of the routes."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """The OpenAPI document."""
        resp.media = documents.openapi()


class Ping(Resource):
    """``/v2/ping``: 204 while the storage answers, else 503."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """Check the storage."""
        if not self._driver.is_alive():
            raise errors.StorageUnavailable("The storage is not reachable.")
        resp.status = falcon.HTTP_204

    on_head = on_get


class Health(Resource):
    """``GET /v2/health`` (admin mode only): whether the storage is reachable."""

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """Report storage reachability."""
        resp.media = serializers.health(self._driver.is_alive())
