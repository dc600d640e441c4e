"""Helpers for the serving tests: a server per backend, slow sockets, raw HTTP."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from tests.conftest import ServerUrls
from tests.e2e.conftest import Server, start, stop

ALL_BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
JSON_HEADERS = {
    "Client-ID": "5b5c8a36-5d4e-4b56-9d1f-3a0f0c2c7e11",
    "X-Project-Id": "door",
    "Content-Type": "application/json",
}
TRICKLE_SECONDS = 0.5


def address(server: Server) -> tuple[str, int]:
    """The (host, port) a server listens on."""
    parts = urlsplit(server.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


@contextmanager
def backend_server(
    backend: str, server_urls: ServerUrls, tmp: pytest.TempPathFactory, name: str, **env: str
) -> Iterator[Server]:
    """``sqlqueue serve`` (2 workers) on a fresh database of ``backend``."""
    url = server_urls.url(backend, name)
    running = start(url, tmp.mktemp(name) / "server.log", backend, workers=2, **env)
    try:
        yield running
    finally:
        stop(running.process)


SLOW_HEAD = b"GET /v2/ping HTTP/1.1\r\nHost: slow\r\n"
SLOW_BODY = (
    b"PUT /v2/queues/slow HTTP/1.1\r\nHost: slow\r\nClient-ID: 5b5c8a36-5d4e-4b56-9d1f-3a0f0c2c7e11"
    b"\r\nX-Project-Id: door\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"
)


class SlowClients:
    """Sockets that send the start of a request, then one byte every TRICKLE_SECONDS.

    A classic slowloris: each connection looks alive but never finishes its
    request. ``SLOW_HEAD`` never finishes the head, ``SLOW_BODY`` the body.
    """

    def __init__(self, where: tuple[str, int], count: int, start: bytes = SLOW_HEAD) -> None:
        self.sockets = [socket.create_connection(where, timeout=5) for _ in range(count)]
        for sock in self.sockets:
            sock.sendall(start)
        self._stop = threading.Event()
        self.closed_by_server = 0
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(TRICKLE_SECONDS):
            for sock in list(self.sockets):
                try:
                    sock.sendall(b" ")
                except OSError:
                    self.sockets.remove(sock)
                    self.closed_by_server += 1

    def close(self) -> None:
        """Stop trickling and close every socket."""
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def timed_request(
    where: tuple[str, int], method: str, path: str, body: bytes | None = None, timeout: float = 5
) -> tuple[int, float]:
    """One request on a new connection: (status, seconds); status 0 if it failed."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(*where, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=JSON_HEADERS)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    except OSError:
        return 0, time.perf_counter() - started
    finally:
        conn.close()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (share in 0..1)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]
