"""Real receivers on loopback: a threaded HTTP server and an aiosmtpd SMTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request."""

    status: int = 200
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    query: str = ""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class HttpReceiver:
    """Records every POST; answers per path as planned (the last answer repeats)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._plans: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path, _, query = self.path.partition("?")
                answer = receiver._record(path, dict(self.headers.items()), body, query)
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a sender killed mid-request resets its connection

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, path: str, headers: dict[str, str], body: bytes, query: str) -> Answer:
        with self._lock:
            self.received.append(Received(path, headers, body, time.monotonic(), query))
            plan = self._plans.get(path) or [Answer()]
            return plan.pop(0) if len(plan) > 1 else plan[0]

    def url(self, path: str) -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def plan(self, path: str, *answers: Answer) -> None:
        """Answer requests to ``path`` with ``answers`` in order (the last one repeats)."""
        with self._lock:
            self._plans[path] = list(answers)

    def at(self, path: str) -> list[Received]:
        """What ``path`` received so far."""
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait(self, path: str, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until ``path`` received ``count`` requests; what it received."""
        wait_until(lambda: len(self.at(path)) >= count, timeout, f"{count} requests at {path}")
        return self.at(path)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


class SmtpReceiver:
    """An aiosmtpd server on loopback keeping every mail it accepts."""

    def __init__(self) -> None:
        self._box = _Mailbox()
        self.port = free_port()
        self._controller = Controller(self._box, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    @property
    def mails(self) -> list[tuple[list[str], Message]]:
        """(recipients, message) of each mail accepted."""
        return list(self._box.mails)

    def wait(self, count: int, timeout: float = 20.0) -> list[tuple[list[str], Message]]:
        """Wait until ``count`` mails arrived."""
        wait_until(lambda: len(self._box.mails) >= count, timeout, f"{count} mails")
        return self.mails

    def close(self) -> None:
        """Stop serving."""
        self._controller.stop()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
