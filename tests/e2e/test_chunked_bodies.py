"""Chunked request bodies over the wire, whatever server ``sqlqueue serve`` runs.

Each request goes over a raw ``http.client`` connection with
``Transfer-Encoding: chunked`` and no Content-Length, split into several
chunks; the answer and the stored state must be those of the same body sent
with a Content-Length (the app reads it from any server that marks where
the body ends, as gunicorn and granian do).
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ServerUrls
from tests.e2e.conftest import Server, start, stop

pytestmark = pytest.mark.slow

HEADERS = {"Client-ID": str(uuid.uuid4()), "X-Project-Id": "chunked", "Accept": "application/json"}


class Wire:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)

    def send(
        self, method: str, path: str, document: Any = None, *, chunked: bool = False, **extra: str
    ) -> tuple[int, Any, http.client.HTTPResponse]:
        """Send a request (the body in 5-byte chunks when ``chunked``)."""
        headers = {**HEADERS, **extra}
        raw = None if document is None else json.dumps(document).encode()
        body: Any = raw
        if chunked and raw is not None:
            body = _pieces(raw, 5)
        self.conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None, response


def _pieces(raw: bytes, size: int) -> Iterator[bytes]:
    for offset in range(0, len(raw), size):
        yield raw[offset : offset + size]


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def server(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """``sqlqueue serve`` on a fresh database of each backend."""
    backend = str(request.param)
    url = server_urls.url(backend, "e2e_chunked")
    running = start(url, tmp_path_factory.mktemp("chunked") / "server.log", backend)
    try:
        yield running
    finally:
        stop(running.process)


@pytest.fixture
def wire(server: Server) -> Iterator[Wire]:
    found = Wire(server.url)
    yield found
    found.conn.close()


def queue_path() -> str:
    return f"/v2/queues/c{uuid.uuid4().hex[:12]}"


def messages(wire: Wire, q: str) -> list[Any]:
    status, doc, _ = wire.send("GET", f"{q}/messages?echo=true&include_claimed=true")
    return [] if status == 204 else [m["body"] for m in doc["messages"]]


def test_chunked_purge_of_subscriptions_keeps_the_messages(wire: Wire) -> None:
    q = queue_path()
    assert wire.send("POST", f"{q}/messages", {"messages": [{"body": 1}]})[0] == 201
    assert wire.send("POST", f"{q}/subscriptions", {"subscriber": "http://a.example"})[0] == 201
    status, _, _ = wire.send(
        "POST", f"{q}/purge", {"resource_types": ["subscriptions"]}, chunked=True
    )
    assert status == 204
    assert messages(wire, q) == [1]
    assert wire.send("GET", f"{q}/subscriptions")[1]["subscriptions"] == []


def test_chunked_claim_gets_the_ttl_asked(wire: Wire) -> None:
    q = queue_path()
    wire.send("POST", f"{q}/messages", {"messages": [{"body": 1}]})
    status, _, response = wire.send("POST", f"{q}/claims", {"ttl": 61}, chunked=True)
    assert status == 201
    assert wire.send("GET", response.getheader("Location") or "")[1]["ttl"] == 61


def test_chunked_queue_put_keeps_its_metadata(wire: Wire) -> None:
    q = queue_path()
    assert wire.send("PUT", q, {"colour": "blue"}, chunked=True)[0] == 201
    assert wire.send("GET", q)[1]["colour"] == "blue"


def test_chunked_share_is_signed_for_what_was_asked(wire: Wire) -> None:
    q = queue_path()
    expires = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0, tzinfo=None)
    asked = {"paths": ["claims"], "methods": ["POST"], "expires": expires.isoformat()}
    status, doc, _ = wire.send("POST", f"{q}/share", asked, chunked=True)
    assert status == 200
    assert (doc["paths"], doc["methods"]) == ([f"{q}/claims"], ["POST"])
    assert doc["expires"] == expires.isoformat()


def test_chunked_post_over_the_limit_is_refused_and_nothing_is_stored(
    wire: Wire, server: Server
) -> None:
    """400 naming the limit; a server may also close the connection while the
    rest of the body is still coming (then no answer can be read): either
    way, nothing is stored."""
    q = queue_path()
    big = {"messages": [{"body": "x" * 300_000}]}
    try:
        status, doc, _ = wire.send("POST", f"{q}/messages", big, chunked=True)
    except (ConnectionError, http.client.HTTPException):
        status, doc = 0, None
    if status:
        assert status == 400
        assert "Max size" in doc["description"]
    fresh = Wire(server.url)
    try:
        assert messages(fresh, q) == []
    finally:
        fresh.conn.close()
