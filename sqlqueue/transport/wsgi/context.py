"""Per-request context and the dependencies every resource receives."""

from __future__ import annotations

from dataclasses import dataclass

import falcon

from sqlqueue.config import Settings
from sqlqueue.control.base import ControlPlaneService
from sqlqueue.domain.clock import Clock
from sqlqueue.domain.limits import Limits
from sqlqueue.storage.base import QueueStore
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

    store: QueueStore
    """Resolves each queue to the data driver holding it."""
    settings: Settings
    clock: Clock
    secret: str
    validator: Validator
    admin: ControlPlaneService | None = None
    """The control plane (pools, flavors, catalogue, health); None: a bare driver."""

    @property
    def limits(self) -> Limits:
        """The API limits from the settings."""
        return self.settings.limits
