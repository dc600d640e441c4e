"""A real websocket server on a free loopback port, over each backend, and a real client.

The server is ``sqlqueue.transport.websocket.run`` in a thread of the test
process over a ``SingleStore`` on the backend under test (every backend:
the root ``backend`` fixture); the client is ``websocket-client``, the
library python-zaqarclient uses.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
import websocket
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import storage_options
from sqlqueue.config import Settings
from sqlqueue.storage.base import SingleStore
from sqlqueue.storage.blobs import BlobStore
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.transport import websocket as ws_transport
from sqlqueue.transport.websocket import WebsocketServer

PROJECT = "ws-project"
TIMEOUT = 10.0


class Client:
    """One websocket connection speaking Zaqar's frames."""

    def __init__(self, url: str, project: str = PROJECT) -> None:
        self.url = url
        self.conn = websocket.create_connection(url, timeout=TIMEOUT)
        self.headers = {"Client-ID": str(uuid.uuid4()), "X-Project-ID": project}

    def send(self, action: str, body: Any = None, headers: dict[str, Any] | None = None) -> None:
        """Send one request frame (JSON text)."""
        frame: dict[str, Any] = {"action": action, "headers": headers or self.headers}
        if body is not None:
            frame["body"] = body
        self.conn.send(json.dumps(frame))

    def recv(self, timeout: float = TIMEOUT) -> Any:
        """The next frame, decoded (JSON or MessagePack)."""
        self.conn.settimeout(timeout)
        opcode, data = self.conn.recv_data()
        if opcode == websocket.ABNF.OPCODE_BINARY:
            return msgpack.unpackb(data, raw=False)
        return json.loads(data.decode("utf-8"))

    def call(
        self, action: str, body: Any = None, headers: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """Send a request; its reply's status and body."""
        self.send(action, body, headers)
        return self.reply()

    def reply(self) -> tuple[int, Any]:
        """The next reply's status and body (a push arriving first fails the test)."""
        frame = self.recv()
        assert "request" in frame and "headers" in frame, f"not a reply: {frame}"
        return frame["headers"]["status"], frame["body"]

    def post(self, queue: str, *bodies: Any) -> list[str]:
        """Post one message per body; their ids."""
        status, body = self.call(
            "message_post", {"queue_name": queue, "messages": [{"body": b} for b in bodies]}
        )
        assert status == 201, body
        return list(body["message_ids"])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


@dataclasses.dataclass
class RunningServer:
    """A websocket server running in a thread."""

    url: str
    store: SingleStore
    settings: Settings
    stop: threading.Event
    thread: threading.Thread
    server: WebsocketServer

    def client(self, project: str = PROJECT) -> Client:
        """A new connection."""
        return Client(self.url, project)


def start_server(
    engine: Engine, *, blobs: BlobStore | None = None, **overrides: Any
) -> RunningServer:
    """Run the websocket server over ``engine`` on a free port until ``stop`` is set
    (big bodies in ``blobs``, if given)."""
    settings = dataclasses.replace(
        Settings(database_url="sqlite://", websocket_port=0, websocket_poll_interval=0.05),
        **overrides,
    )
    store = SingleStore(SqlDataDriver(engine, options=storage_options(settings, blobs)))
    stop, ready = threading.Event(), threading.Event()
    running: list[WebsocketServer] = []

    def on_ready(server: WebsocketServer) -> None:
        running.append(server)
        ready.set()

    thread = threading.Thread(
        target=ws_transport.run,
        args=(store, settings),
        kwargs={"stop": stop, "ready": on_ready},
        daemon=True,
    )
    thread.start()
    assert ready.wait(TIMEOUT), "the websocket server did not start"
    url = f"ws://127.0.0.1:{running[0].port}/"
    return RunningServer(url, store, settings, stop, thread, running[0])


def stop_server(server: RunningServer) -> None:
    """Stop the server and wait for its clean-up."""
    server.stop.set()
    server.thread.join(TIMEOUT)


@pytest.fixture
def start_ws(engine: Engine) -> Iterator[Callable[..., RunningServer]]:
    """Starts servers with settings overrides; stops them after the test."""
    started: list[RunningServer] = []

    def start(**overrides: Any) -> RunningServer:
        server = start_server(engine, **overrides)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)


@pytest.fixture
def server(start_ws: Callable[..., RunningServer]) -> RunningServer:
    """A server with the default settings over the backend under test."""
    return start_ws()


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    """A connection to ``server``."""
    found = server.client()
    yield found
    found.close()
