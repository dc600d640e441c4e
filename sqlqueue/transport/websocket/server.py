"""The websocket server: connections, limits, the storage thread pool, pushes.

Built on the asyncio ``websockets`` library. Per connection, frames are
answered one at a time in arrival order (as Zaqar); each answer runs in a
bounded thread pool so storage never blocks the event loop. What a
connection may hold is bounded: incoming frames (``max_size`` each, a
queue of ``INCOMING_QUEUE``), and outgoing frames (``Outbox``: replies wait,
a push that does not fit closes the socket with 1008).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse
from websockets.protocol import State

from sqlqueue.config import Settings
from sqlqueue.storage.base import QueueStore
from sqlqueue.transport.websocket import frames, replies
from sqlqueue.transport.websocket.actions import Actions, Outcome, Session, Subscribe, Unsubscribe
from sqlqueue.transport.websocket.auth import EXPIRED_CODE, EXPIRED_REASON, gate_for
from sqlqueue.transport.websocket.frames import Frame
from sqlqueue.transport.websocket.outbox import Outbox
from sqlqueue.transport.websocket.push import PushHub

logger = logging.getLogger(__name__)
T = TypeVar("T")

ENVELOPE_ALLOWANCE = 16384
"""Bytes a request frame may carry beyond the largest HTTP body (action, headers, keys)."""
INCOMING_QUEUE = 2
"""Frames received and not yet answered, per connection, before reading pauses."""
CLOSE_TIMEOUT = 5.0
"""Seconds a closing connection may wait for the client before its TCP connection is aborted."""
SLOW_READER = 1008
SLOW_READER_REASON = "send queue full: the client is not reading its frames"
TOO_MANY = "Too many websocket connections; try again later.\n"


@dataclass(frozen=True)
class Options:
    """The websocket server's settings (``websocket_*`` in ``Settings``)."""

    host: str = "127.0.0.1"
    port: int = 9000
    max_connections: int = 1000
    max_frame_size: int = 524288
    send_buffer: int = 1048576
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    threads: int = 8
    poll_interval: float = 0.15

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        """The options a ``Settings`` names (host defaults to the HTTP host)."""
        return cls(
            host=settings.websocket_host or settings.host,
            port=settings.websocket_port,
            max_connections=settings.websocket_max_connections,
            max_frame_size=settings.websocket_max_frame_size,
            send_buffer=settings.websocket_send_buffer,
            ping_interval=settings.websocket_ping_interval,
            ping_timeout=settings.websocket_ping_timeout,
            threads=settings.websocket_threads,
            poll_interval=settings.websocket_poll_interval,
        )


class Socket:
    """One client connection: its id, outbox, writer and socket subscriptions."""

    def __init__(self, ws: ServerConnection, options: Options, subscriber: str) -> None:
        self.ws = ws
        self.id = uuid.uuid4().hex
        self.session = Session(subscriber=f"{subscriber}/{self.id}")
        self.outbox = Outbox(options.send_buffer)
        self.binary = False
        """Pushes are MessagePack when the last socket subscription came in binary."""
        self.subscriptions: dict[str, Subscribe] = {}
        self.writer: asyncio.Task[None] | None = None
        self.closing_since: float | None = None
        self.closer: asyncio.Task[None] | None = None

    def push(self, frame: Frame) -> None:
        """Queue a pushed frame; a client that is not reading is disconnected."""
        if self.outbox.offer(frame) or self.outbox.closed:
            return
        logger.warning("websocket %s: %s; closing", self.id, SLOW_READER_REASON)
        self.outbox.close()
        self.closer = asyncio.get_running_loop().create_task(
            self.ws.close(SLOW_READER, SLOW_READER_REASON)
        )

    async def write(self) -> None:
        """Send queued frames until the outbox closes or the socket does."""
        try:
            while (item := await self.outbox.next()) is not None:
                frame, size = item
                await self.ws.send(frame)
                self.outbox.sent(size)
        except ConnectionClosed:
            pass
        finally:
            self.outbox.close()


class WebsocketServer:
    """Zaqar's websocket API over a queue store."""

    def __init__(self, store: QueueStore, settings: Settings, options: Options) -> None:
        self._options = options
        self._actions = Actions(store, settings.limits, gate_for(settings))
        self._pool = ThreadPoolExecutor(options.threads, thread_name_prefix="sqlqueue-ws")
        self._hub = PushHub(store, self._run, options.poll_interval)
        self._server: Server | None = None
        self._sockets: set[Socket] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._subscriber = f"websocket://{options.host}:{options.port}"
        largest_body = max(
            settings.limits.max_messages_post_size, settings.limits.max_queue_metadata
        )
        self._max_request = min(options.max_frame_size, largest_body + ENVELOPE_ALLOWANCE)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def watched_queues(self) -> int:
        """How many queues this process polls for socket subscribers."""
        return self._hub.watched

    @property
    def open_sockets(self) -> int:
        """How many client connections this process holds."""
        return len(self._sockets)

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def start(self) -> None:
        """Bind and start accepting connections."""
        opts = self._options
        self._server = await serve(
            self._handle,
            opts.host,
            opts.port,
            process_request=self._admit,
            max_size=opts.max_frame_size,
            max_queue=INCOMING_QUEUE,
            ping_interval=opts.ping_interval or None,
            ping_timeout=opts.ping_timeout or None,
            close_timeout=CLOSE_TIMEOUT,
            compression=None,
            server_header="sqlqueue",
        )
        self._subscriber = f"websocket://{opts.host}:{self.port}"
        self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def stop(self) -> None:
        """Close every connection (1001), wait for their clean-up, release the pool."""
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT * 2)
            except TimeoutError:
                for socket in list(self._sockets):
                    socket.ws.transport.abort()
                await self._server.wait_closed()
        if self._reaper is not None:
            self._reaper.cancel()
        self._hub.close()
        self._pool.shutdown(wait=True)

    def _admit(self, connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        """Refuse the handshake (503) when the process holds ``max_connections`` already."""
        assert self._server is not None
        if len(self._server.connections) >= self._options.max_connections:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, TOO_MANY)
        return None

    async def _reap(self) -> None:
        """Once a second: close connections whose token expired, abort those stuck closing.

        A Keystone token that runs out closes its connection with 4003
        (Zaqar's code). websockets leaves a connection it closed itself (1009:
        frame too big) half-closed until the client closes its side; a
        client that never answers the close is aborted after CLOSE_TIMEOUT.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for socket in list(self._sockets):
                if socket.ws.state is State.OPEN and socket.session.auth.expired():
                    socket.outbox.close()
                    socket.closer = loop.create_task(socket.ws.close(EXPIRED_CODE, EXPIRED_REASON))
                    continue
                if socket.ws.state is not State.CLOSING:
                    continue
                if socket.closing_since is None:
                    socket.closing_since = now
                elif now - socket.closing_since > CLOSE_TIMEOUT:
                    socket.ws.transport.abort()

    async def _handle(self, ws: ServerConnection) -> None:
        socket = Socket(ws, self._options, self._subscriber)
        socket.writer = asyncio.get_running_loop().create_task(socket.write())
        self._sockets.add(socket)
        try:
            async for frame in ws:
                reply = await self._answer(socket, frame)
                await socket.outbox.put(reply)
                if socket.outbox.closed:
                    break
        except ConnectionClosed:
            pass
        finally:
            self._sockets.discard(socket)
            await self._forget(socket)

    async def _answer(self, socket: Socket, frame: Frame) -> Frame:
        """The encoded reply to one frame."""
        if frames.frame_size(frame) > self._max_request:
            request = frames.Request(action=None, binary=isinstance(frame, bytes))
            too_large = f"Frame is too large. Max size: {self._max_request} bytes."
            outcome = Outcome(replies.bad_request(too_large, "Invalid request body"))
        else:
            request, outcome = await self._run(lambda: self._decode_and_handle(socket, frame))
        self._apply(socket, request, outcome)
        return frames.encode(frames.reply_document(request, outcome.reply), request.binary)

    def _decode_and_handle(self, socket: Socket, frame: Frame) -> tuple[frames.Request, Outcome]:
        try:
            request = frames.decode(frame)
        except frames.FrameError as ex:
            return frames.request_of(ex, frame), Outcome(replies.bad_request(str(ex)))
        return request, self._actions.handle(request, socket.session)

    def _apply(self, socket: Socket, request: frames.Request, outcome: Outcome) -> None:
        effect = outcome.effect
        if isinstance(effect, Subscribe):
            socket.subscriptions[effect.subscription_id] = effect
            socket.binary = request.binary
            self._hub.add(socket, effect)
        elif isinstance(effect, Unsubscribe):
            # Another socket of this process may hold it: the hub forgets it for all;
            # that socket's own list keeps it, and deleting it again on close is silent.
            self._hub.remove(effect.subscription_id)
            socket.subscriptions.pop(effect.subscription_id, None)

    async def _forget(self, socket: Socket) -> None:
        """The socket is gone: stop its pushes, delete its subscriptions, stop its writer."""
        socket.outbox.close()
        if socket.writer is not None:
            socket.writer.cancel()
        for sub in list(socket.subscriptions.values()):
            self._hub.remove(sub.subscription_id)
            try:
                await self._run(
                    functools.partial(
                        self._actions.forget, sub.project, sub.queue, sub.subscription_id
                    )
                )
            except Exception as ex:  # it expires with its ttl anyway
                logger.warning("could not delete subscription %s: %s", sub.subscription_id, ex)
        socket.subscriptions.clear()
