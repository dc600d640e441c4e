"""Middleware: request ids and the access log, then Zaqar's "before" checks.

Checks run in Zaqar's order: pre-signed URL, no form-encoded body, Accept,
Client-ID, X-Project-Id, then (once routed) the queue name. ``UnreadBody``
keeps a keep-alive connection in step when an answer (usually a 4xx) did
not read the request body.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import falcon

from sqlqueue.domain import identity
from sqlqueue.domain.limits import Limits
from sqlqueue.transport.wsgi import signing
from sqlqueue.transport.wsgi.context import Deps, Request
from sqlqueue.transport.wsgi.metrics import PATH as METRICS_PATH
from sqlqueue.transport.wsgi.metrics import SCRAPE_TYPES

access_logger = logging.getLogger("sqlqueue.access")

DRAIN_LIMIT = 1024 * 1024
"""Bytes of an unread request body read and discarded after the answer;
past this the answer says ``Connection: close`` instead."""
_DRAIN_CHUNK = 64 * 1024
QUEUE_PATH = re.compile(r"/v2/queues/([^/]+)")

VERSION_PREFIX = "/v2/"
UNCHECKED = frozenset({"/v2/openapi.json"})
FORM = "application/x-www-form-urlencoded"


class UnreadBody:
    """Never leave an unread request body on a connection that stays open.

    An answer given before the body was read (a 400 for a too-large or
    misaddressed request) would leave the body's bytes in the connection,
    where the server takes them for the next request. After the answer the
    rest of the body is read and discarded, up to ``limit`` bytes; a larger
    body, or a chunked one the server cannot delimit, gets
    ``Connection: close`` so the server closes the connection after this
    answer instead of reading another request from it.
    """

    def __init__(self, limit: int = DRAIN_LIMIT) -> None:
        self._limit = limit

    def process_response(
        self, req: Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        """Discard what is left of the body, or ask the server to close."""
        length = req.content_length
        if length:
            if not req.bounded_stream.eof and not self._discard(req.bounded_stream, length):
                resp.set_header("Connection", "close")
        elif req.get_header("Transfer-Encoding"):
            terminated = bool(req.env.get("wsgi.input_terminated"))
            if not (terminated and self._discard(req.stream, None)):
                resp.set_header("Connection", "close")

    def _discard(self, stream: Any, length: int | None) -> bool:
        """Read ``stream`` to its end within the limit; whether the end was reached."""
        if length is not None and length > self._limit:
            return False
        budget = self._limit + 1
        while budget > 0:
            chunk = stream.read(min(_DRAIN_CHUNK, budget))
            if not chunk:
                return True
            budget -= len(chunk)
        return False


class AccessLog:
    """Give each request an id (``x-openstack-request-id``) and log one line for it.

    The line's fields also travel as record attributes (``request_id``,
    ``project``, ``queue``, ``method``, ``path``, ``status``,
    ``duration_ms``, ``remote``) for the JSON log format (sqlqueue/logs.py).
    """

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
        status = resp.status[:3] if isinstance(resp.status, str) else resp.status
        queue = QUEUE_PATH.match(req.path)
        fields = {
            "request_id": req.context.request_id,
            "project": req.context.project or None,
            "queue": queue.group(1) if queue else None,
            "method": req.method,
            "path": req.relative_uri,
            "status": int(status),
            "duration_ms": round(millis, 1),
            "remote": req.remote_addr,
        }
        access_logger.info(
            '%s "%s %s" %s %.1fms project=%s request_id=%s',
            req.remote_addr,
            req.method,
            req.relative_uri,
            status,
            millis,
            req.context.project or "-",
            req.context.request_id,
            extra=fields,
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
        if not (
            req.client_accepts_json
            or req.client_accepts("application/json-home")
            or (req.path == METRICS_PATH and any(map(req.client_accepts, SCRAPE_TYPES)))
        ):
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
        """Validate the queue (or topic) name of queue- and topic-scoped routes."""
        name = params.get("queue_name")
        if name is not None:
            identity.check_queue_name(name, self._limits)
        topic = params.get("topic_name")
        if topic is not None:
            identity.check_topic_name(topic, self._limits)

    def _check_signature(self, req: Request) -> None:
        headers = {key.upper(): value for key, value in req.headers.items()}
        now = self._deps.clock()
        if not signing.verify(
            self._deps.secret, method=req.method, path=req.path, headers=headers, now=now
        ):
            raise falcon.HTTPNotFound(title="Not found", description="Invalid signed URL.")

    def _client_id(self, req: Request) -> str:
        return identity.check_client_id(req.get_header("Client-ID", required=True), self._limits)

    def _project(self, req: Request) -> str:
        value = req.get_header("X-Project-Id")
        settings = self._deps.settings
        if value is None and settings.noauth_project and settings.auth_strategy != "keystone":
            value = settings.noauth_project  # OSC's --os-auth-type none sends none
        # Under Keystone the header is the token's: none means a token scoped to no project.
        return identity.check_project_id(value, self._limits)
