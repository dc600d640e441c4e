"""Middleware: request ids and the access log, then Zaqar's "before" checks.

Checks run in Zaqar's order: pre-signed URL, no form-encoded body, Accept,
Client-ID, X-Project-Id, then (once routed) the queue name.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import falcon

from sqlqueue.domain.limits import Limits
from sqlqueue.transport.wsgi import signing
from sqlqueue.transport.wsgi.context import Deps, Request

access_logger = logging.getLogger("sqlqueue.access")

VERSION_PREFIX = "/v2/"
UNCHECKED = frozenset({"/v2/openapi.json"})
QUEUE_NAME = re.compile(r"[a-zA-Z0-9_\-.]+")
FORM = "application/x-www-form-urlencoded"
CLIENT_ID_COLUMN = 64
BAD_QUEUE = "Invalid queue identification"


class AccessLog:
    """Give each request an id (``x-openstack-request-id``) and log one line for it."""

    def process_request(self, req: Request, resp: falcon.Response) -> None:
        """Start the clock."""
        req.context.request_id = f"req-{uuid.uuid4()}"
        req.context.started = time.perf_counter()

    def process_response(
        self, req: Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        """Echo the request id and log method, path, status and duration."""
        resp.set_header("x-openstack-request-id", req.context.request_id)
        millis = (time.perf_counter() - req.context.started) * 1000
        access_logger.info(
            '%s "%s %s" %s %.1fms project=%s request_id=%s',
            req.remote_addr,
            req.method,
            req.relative_uri,
            resp.status[:3] if isinstance(resp.status, str) else resp.status,
            millis,
            req.context.project or "-",
            req.context.request_id,
        )


class Guard:
    """Refuse requests Zaqar refuses before any resource runs."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._limits: Limits = deps.limits

    def process_request(self, req: Request, resp: falcon.Response) -> None:
        """Header and body-type checks common to every route."""
        if "\x00" in req.path or "%00" in req.query_string:
            raise falcon.HTTPBadRequest(title="Bad request", description="NUL in the URL.")
        if req.get_header("URL-SIGNATURE") is not None:
            self._check_signature(req)
        if req.content_length and (req.content_type or "").split(";")[0].strip().lower() == FORM:
            raise falcon.HTTPBadRequest(
                title="Invalid Content-Type",
                description="Form-encoded request bodies are not accepted; send JSON.",
            )
        if not (req.client_accepts_json or req.client_accepts("application/json-home")):
            raise falcon.HTTPNotAcceptable(
                description="Endpoint only serves `application/json`; specify client-side "
                'media type support with the "Accept" header.'
            )
        if req.path.startswith(VERSION_PREFIX) and req.path not in UNCHECKED:
            req.context.client_id = self._client_id(req)
            req.context.project = self._project(req)

    def process_resource(
        self, req: Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        """Validate the queue name of queue-scoped routes."""
        name = params.get("queue_name")
        if name is not None and not valid_queue_name(name, self._limits):
            raise falcon.HTTPBadRequest(
                title=BAD_QUEUE,
                description="The format of the submitted queue name or project id is not valid.",
            )

    def _check_signature(self, req: Request) -> None:
        headers = {key.upper(): value for key, value in req.headers.items()}
        now = self._deps.clock()
        if not signing.verify(
            self._deps.secret, method=req.method, path=req.path, headers=headers, now=now
        ):
            raise falcon.HTTPNotFound(title="Not found", description="Invalid signed URL.")

    def _client_id(self, req: Request) -> str:
        value = req.get_header("Client-ID", required=True)
        if self._limits.client_id_uuid_safe != "strict":  # "off" (or Zaqar's "lax")
            upper = min(self._limits.max_length_client_id, CLIENT_ID_COLUMN)
            if not self._limits.min_length_client_id <= len(value) <= upper:
                raise falcon.HTTPBadRequest(
                    title="Invalid Client-ID",
                    description=f"Client-ID must have {self._limits.min_length_client_id}"
                    f" to {upper} characters.",
                )
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError as ex:
            raise falcon.HTTPBadRequest(
                title="Invalid Client-ID", description="Malformed hexadecimal UUID."
            ) from ex

    def _project(self, req: Request) -> str:
        value = req.get_header("X-Project-Id")
        if value is None:
            raise falcon.HTTPBadRequest(title="Missing header", description="Project-Id Missing")
        if not value:
            raise falcon.HTTPBadRequest(
                title="Invalid header", description="Empty project header not allowed"
            )
        if len(value) > self._limits.max_project_id_length:
            raise falcon.HTTPBadRequest(
                title=BAD_QUEUE,
                description="The format of the submitted queue name or project id is not valid.",
            )
        return value


def valid_queue_name(name: str, limits: Limits) -> bool:
    """Whether ``name`` is a valid queue name."""
    return len(name) <= limits.max_queue_name_length and bool(QUEUE_NAME.fullmatch(name))
