"""Per-request context and the dependencies every resource receives."""

from __future__ import annotations

from dataclasses import dataclass

import falcon

from sqlqueue.config import Settings
from sqlqueue.domain.clock import Clock
from sqlqueue.domain.limits import Limits
from sqlqueue.storage.base import DataDriver
from sqlqueue.storage.pooling.admin import Admin
from sqlqueue.transport.wsgi.validation import Validator


class RequestContext(falcon.Context):
    """What the middleware learns about a request before routing it."""

    request_id: str = ""
    started: float = 0.0
    project: str = ""
    client_id: str = ""


class Request(falcon.Request):
    """A Falcon request with a typed context."""

    context_type = RequestContext
    context: RequestContext


@dataclass(frozen=True)
class Deps:
    """The collaborators of every resource, injected once at build time."""

    driver: DataDriver
    settings: Settings
    clock: Clock
    secret: str
    validator: Validator
    admin: Admin | None = None
    """The control plane (pools, flavors, catalogue, health); None: a bare driver."""

    @property
    def limits(self) -> Limits:
        """The API limits from the settings."""
        return self.settings.limits
