"""A connection's outgoing frames, bounded in bytes.

Replies wait for room (so a client that sends but never reads stops being
read: TCP pushes back on it); pushed notifications never wait: when they do
not fit, the client is not keeping up and the server closes the socket.
The bytes held per connection are therefore at most ``limit`` (plus one
frame larger than the limit, sent alone), whatever the client does.
"""

from __future__ import annotations

import asyncio
from collections import deque

from sqlqueue.transport.websocket.frames import Frame, frame_size


class Outbox:
    """Frames waiting to be written to one socket, in order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frames: deque[tuple[Frame, int]] = deque()
        self._bytes = 0
        self._changed = asyncio.Event()
        self.closed = False

    @property
    def size(self) -> int:
        """Bytes queued and not yet written."""
        return self._bytes

    def _fits(self, size: int) -> bool:
        return self._bytes == 0 or self._bytes + size <= self.limit

    async def put(self, frame: Frame) -> None:
        """Queue a reply, waiting until it fits (returns at once once closed)."""
        size = frame_size(frame)
        while not self.closed and not self._fits(size):
            self._changed.clear()
            await self._changed.wait()
        if not self.closed:
            self._append(frame, size)

    def offer(self, frame: Frame) -> bool:
        """Queue a push if it fits; False (nothing queued) when it does not."""
        size = frame_size(frame)
        if self.closed or not self._fits(size):
            return False
        self._append(frame, size)
        return True

    def _append(self, frame: Frame, size: int) -> None:
        self._frames.append((frame, size))
        self._bytes += size
        self._changed.set()

    async def next(self) -> tuple[Frame, int] | None:
        """The oldest frame and its size, waiting for one; None once closed."""
        while not self._frames and not self.closed:
            self._changed.clear()
            await self._changed.wait()
        return self._frames.popleft() if self._frames else None

    def sent(self, size: int) -> None:
        """A frame taken by ``next`` has been written: its bytes are free."""
        self._bytes -= size
        self._changed.set()

    def close(self) -> None:
        """Drop what is queued and wake every waiter."""
        self.closed = True
        self._frames.clear()
        self._bytes = 0
        self._changed.set()
