"""Middleware: request ids and the access log, then Zaqar's "before" checks.

Checks run in Zaqar's order: pre-signed URL, no form-encoded body, Accept,
Client-ID, X-Project-Id, then (once routed) the queue name. ``UnreadBody``
keeps a keep-alive connection in step when an answer (usually a 4xx) did
not read the request body.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import falcon

from sqlqueue import logs
from sqlqueue.domain import identity
from sqlqueue.domain.limits import Limits
from sqlqueue.logs import ACCESS
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

ACCESS_LINE = '%s "%s %s" %s %sms project=%s request_id=%s'
"""The access line's message and its arguments' order: remote address, method, path
and query, status, duration in milliseconds, project (``-`` for none), request id."""

VERSION_PREFIX = "/v2/"
UNCHECKED = frozenset({"/v2/openapi.json"})
FORM = "application/x-www-form-urlencoded"
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""A random hex digit to the UUID variant-1 digit keeping its low two bits (RFC 4122 4.4)."""


def new_request_id() -> str:
    """A fresh request id: ``req-`` and a random (version 4) UUID in its canonical form.

    The same text as ``f"req-{uuid.uuid4()}"`` (16 bytes from ``os.urandom``,
    version digit ``4``, variant digit ``8``-``b``), e.g.
    ``req-3831d449-5c5e-4a1e-9f3b-0c2d6f1e8a7b``.

    PERF: built from the hex text by slicing; ``uuid.uuid4()`` and
    ``UUID.__str__`` cost 2.5 times as much.
    """
    h = os.urandom(16).hex()
    return f"req-{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


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
        elif req.env.get("HTTP_TRANSFER_ENCODING"):  # PERF: as Guard reads headers
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

    The line's message is ``ACCESS_LINE``. Where the line needs a record
    (the JSON format, any handler or filter besides ``serve``'s text
    handler), the record also carries the fields in its ``access``
    attribute, a dict (``request_id``, ``project``, ``queue``, ``method``,
    ``path``, ``status``, ``duration_ms``, ``remote``: ``sqlqueue.logs.ACCESS``);
    under ``serve``'s text handler the line is written without a record
    (``logs.text_handlers``).
    """

    def process_request(self, req: Request, resp: falcon.Response) -> None:
        """Start the clock."""
        req.context.request_id = new_request_id()
        req.context.started = time.perf_counter()

    def process_response(
        self, req: Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        """Echo the request id and log method, path, status and duration."""
        context = req.context
        resp.set_header("x-openstack-request-id", context.request_id)
        if not access_logger.isEnabledFor(logging.INFO):
            return
        # PERF: one "%.1f" formatting serves both; round(millis, 1) is the same float.
        millis = f"{(time.perf_counter() - context.started) * 1000:.1f}"
        status = int(resp.status[:3] if isinstance(resp.status, str) else resp.status)
        remote, method, path = req.remote_addr, req.method, req.relative_uri
        project, request_id = context.project, context.request_id
        args = (remote, method, path, status, millis, project or "-", request_id)
        handlers = logs.text_handlers(access_logger, logging.INFO)
        if handlers is not None:  # PERF: serve's text lines need no record (logs.write_text)
            logs.write_text(handlers, logging.INFO, access_logger.name, ACCESS_LINE % args)
            return
        queue = QUEUE_PATH.match(req.path)
        fields = {
            "request_id": request_id,
            "project": project or None,
            "queue": queue.group(1) if queue else None,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": float(millis),
            "remote": remote,
        }
        logs.emit(access_logger, logging.INFO, ACCESS_LINE, args, {ACCESS: fields})


USUAL_ACCEPT = frozenset({"*/*", "application/json"})
"""``Accept`` values taken as they are, without Falcon's parser (what nearly every client sends)."""


def accepts_json(req: Request) -> bool:
    """Whether the client accepts an answer of this API: JSON, JSON Home, or (``/metrics``) text.

    PERF: a missing or empty ``Accept`` (taken as ``*/*``) or one of
    ``USUAL_ACCEPT`` is answered without parsing; anything else goes
    through ``req.client_accepts``.
    """
    accept = req.env.get("HTTP_ACCEPT")
    if not accept or accept in USUAL_ACCEPT:
        return True
    return (
        req.client_accepts_json
        or req.client_accepts("application/json-home")
        or (req.path == METRICS_PATH and any(map(req.client_accepts, SCRAPE_TYPES)))
    )


class Guard:
    """Refuse requests Zaqar refuses before any resource runs."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._limits: Limits = deps.limits

    def process_request(self, req: Request, resp: falcon.Response) -> None:
        """Header and body-type checks common to every route.

        PERF: headers are read from ``req.env`` by their WSGI keys
        (``HTTP_CLIENT_ID``); ``req.get_header`` derives the key from the
        name on every call.
        """
        path = req.path
        if "\x00" in path or "%00" in req.query_string:
            raise falcon.HTTPBadRequest(title="Bad request", description="NUL in the URL.")
        if "HTTP_URL_SIGNATURE" in req.env:
            self._check_signature(req)
        if req.content_length and (req.content_type or "").split(";")[0].strip().lower() == FORM:
            raise falcon.HTTPBadRequest(
                title="Invalid Content-Type",
                description="Form-encoded request bodies are not accepted; send JSON.",
            )
        if not accepts_json(req):
            raise falcon.HTTPNotAcceptable(
                description="Endpoint only serves `application/json`; specify client-side "
                'media type support with the "Accept" header.'
            )
        if path.startswith(VERSION_PREFIX) and path not in UNCHECKED:
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
        value = req.env.get("HTTP_CLIENT_ID")
        if value is None:
            raise falcon.HTTPMissingHeader("Client-ID")
        return identity.check_client_id(value, self._limits)

    def _project(self, req: Request) -> str:
        value = req.env.get("HTTP_X_PROJECT_ID")
        settings = self._deps.settings
        if value is None and settings.noauth_project and settings.auth_strategy != "keystone":
            value = settings.noauth_project  # OSC's --os-auth-type none sends none
        # Under Keystone the header is the token's: none means a token scoped to no project.
        return identity.check_project_id(value, self._limits)
