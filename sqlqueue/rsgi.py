"""Serve a WSGI app under granian's RSGI interface, with whole requests read first.

granian reads request heads in Rust; this front then reads the body on the
worker's event loop, within ``body_timeout`` seconds and ``max_body`` bytes,
and only a complete request reaches one of the ``threads`` Python threads
that run the WSGI app. A slow or stalled client therefore holds a
connection, never a thread (granian's own WSGI interface hands the body to
the app while it is still arriving, so a slow body would hold a thread).

Long-poll requests (``?wait=N`` with N > 0) run on a pool of their own,
``long_polls`` threads large: a waiting request blocks a thread that costs
memory but no CPU, and never takes one of the ``threads`` that ordinary
requests need.

Answers of the front itself, with Zaqar's JSON error body and
``Connection: close``: 413 for a body over ``max_body`` (refused from its
Content-Length before reading when it has one), 408 for a body not received
within ``body_timeout``, 500 if the app raised.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import parse_qsl

from sqlqueue.logs import ACCESS
from sqlqueue.observe.metrics import FRONT, HTTP_REQUESTS, method_label

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("sqlqueue.access")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Headers = list[tuple[str, str]]
CLOSE = ("connection", "close")
DISCONNECT_KEY = "sqlqueue.on_disconnect"
"""The environ key of the callbacks to run when a long-polling client leaves
(``transport.wsgi.longpoll.on_disconnect`` reads it)."""
JSON = ("content-type", "application/json")


class Scope(Protocol):
    """The part of granian's RSGI HTTP scope used here."""

    http_version: str
    server: str
    client: str
    scheme: str
    method: str
    path: str
    query_string: str

    @property
    def headers(self) -> Any:
        """The request headers (``get``, ``items``; names in lower case)."""


class _Refused(Exception):
    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(description)
        self.status, self.title, self.description = status, title, description


class WsgiFront:
    """An RSGI application running ``app`` on a thread pool, one whole request at a time.

    ``busy`` counts requests between their arrival and their answer being
    handed to granian; ``last_answer`` is when the latest one finished
    (``time.monotonic``).
    """

    def __init__(
        self,
        app: WsgiApp,
        *,
        threads: int,
        max_body: int,
        body_timeout: float,
        long_polls: int = 1,
    ) -> None:
        self._app = app
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlqueue")
        self._waiters = ThreadPoolExecutor(
            max_workers=max(1, long_polls), thread_name_prefix="sqlqueue-wait"
        )
        self._max_body = max_body
        self._body_timeout = body_timeout
        self.lock = threading.Lock()
        self.busy = 0
        self.last_answer = time.monotonic()
        self.closing = False
        """Set when the worker stops: answers say ``Connection: close``."""

    async def __call__(self, scope: Scope, proto: Any) -> None:
        """Read the whole request, run the app in a thread, send its answer (RSGI)."""
        with self.lock:
            self.busy += 1
        try:
            await self._serve(scope, proto)
        finally:
            with self.lock:
                self.busy -= 1
                self.last_answer = time.monotonic()

    async def _serve(self, scope: Scope, proto: Any) -> None:
        try:
            body = await self._body(scope, proto)
        except _Refused as ex:
            return _refuse(scope, proto, ex)
        except TimeoutError:
            return _refuse(scope, proto, _Refused(408, "Request timeout", self._timeout_text()))
        except Exception as ex:  # granian's protocol errors: the client went away
            logger.debug("request body not received: %s", ex)
            return None
        environ = build_environ(scope, body)
        if waits(scope.query_string):
            answer = await self._call_waiting(environ, proto)
            if answer is None:
                return None  # the client went away while it waited
            status, headers, payload = answer
        else:
            loop = asyncio.get_running_loop()
            status, headers, payload = await loop.run_in_executor(self._pool, self._call, environ)
        if self.closing:
            headers = [h for h in headers if h[0].lower() != "connection"] + [CLOSE]
        proto.response_bytes(status, headers, payload)

    async def _call_waiting(
        self, environ: dict[str, Any], proto: Any
    ) -> tuple[int, Headers, bytes] | None:
        """Run a long-poll on the waiters' pool; None if the client left meanwhile.

        A client that disconnects has the app's ``sqlqueue.on_disconnect``
        callbacks run, which end its wait at once and free its thread.
        """
        callbacks: list[Callable[[], None]] = []
        environ[DISCONNECT_KEY] = callbacks
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._waiters, self._call, environ)
        gone = asyncio.ensure_future(proto.client_disconnect())
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            gone.cancel()
            return work.result()
        for callback in list(callbacks):
            callback()
        await work
        return None

    def _timeout_text(self) -> str:
        return f"The request body did not arrive within {self._body_timeout:g} seconds."

    async def _body(self, scope: Scope, proto: Any) -> bytes:
        """The whole body, read within ``body_timeout`` (most requests have none)."""
        declared = scope.headers.get("content-length")
        if declared is not None:
            if int(declared) > self._max_body:
                raise self._too_large()
            if not int(declared):
                return b""
        elif scope.headers.get("transfer-encoding") is None:
            return b""
        async with asyncio.timeout(self._body_timeout):
            if declared is not None:
                return bytes(await proto())
            return await self._chunked(proto)

    async def _chunked(self, proto: Any) -> bytes:
        parts, size = [], 0
        async for chunk in proto:
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large()
            parts.append(bytes(chunk))
        return b"".join(parts)

    def _too_large(self) -> _Refused:
        return _Refused(
            413, "Request entity too large", f"The request body exceeds {self._max_body} bytes."
        )

    def _call(self, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
        """Run the WSGI app (in a pool thread): status, headers, body."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return written.append

        try:
            result = self._app(environ, start_response)
            try:
                written.extend(result)
            finally:
                getattr(result, "close", lambda: None)()
        except Exception:
            logger.exception("the application failed on %s", environ.get("PATH_INFO"))
            return _error(500, "Internal server error", "The server failed to answer.")
        status, headers = started
        return int(status[:3]), headers, b"".join(written)


def waits(query_string: str) -> bool:
    """Whether a request asks to long-poll (``wait`` a positive integer)."""
    if "wait=" not in query_string:
        return False
    values = [value for key, value in parse_qsl(query_string) if key == "wait"]
    return bool(values) and values[-1].isdigit() and int(values[-1]) > 0


def _error(status: int, title: str, description: str) -> tuple[int, Headers, bytes]:
    body = json.dumps({"title": title, "description": description}).encode()
    return status, [JSON, CLOSE], body


def _refuse(scope: Scope, proto: Any, refused: _Refused) -> None:
    """Answer for the front itself, and log and count it as the app does its answers."""
    remote = _host_port(scope.client)[0]
    HTTP_REQUESTS.labels(method_label(scope.method), FRONT, str(refused.status)).inc()
    access_logger.info(
        '%s "%s %s" %s refused before the app: %s',
        remote,
        scope.method,
        scope.path,
        refused.status,
        refused.title,
        extra={
            ACCESS: {
                "method": scope.method,
                "path": scope.path,
                "status": refused.status,
                "remote": remote,
            }
        },
    )
    proto.response_bytes(*_error(refused.status, refused.title, refused.description))


def _host_port(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or address, port or "0"


def build_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The PEP 3333 environ of an RSGI request whose ``body`` was read in full."""
    server_name, server_port = _host_port(scope.server)
    remote_addr, remote_port = _host_port(scope.client)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "REMOTE_ADDR": remote_addr,
        "REMOTE_PORT": remote_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        if name == "content-length":
            key = "CONTENT_LENGTH"
        elif name == "content-type":
            key = "CONTENT_TYPE"
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
