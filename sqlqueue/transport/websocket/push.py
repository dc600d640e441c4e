"""Socket subscriptions: one shared poll per subscribed queue, fanned out to sockets.

Every queue with at least one socket subscriber in this process has one
``Watch``: a task that, every ``interval`` seconds, lists the queue's
messages after the last marker it saw (in the storage thread pool) and
hands each new message, as Zaqar's notification document, to every
subscribed socket whose subscription started below its marker and has
not expired. Posts from any process (HTTP or websocket) are seen, because
the poll reads the database. The cost is one small query per subscribed
queue per interval, however many sockets subscribe to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlqueue.domain.models import Message
from sqlqueue.storage.base import QueueStore
from sqlqueue.transport.websocket.actions import Subscribe
from sqlqueue.transport.websocket.frames import encode, notification

logger = logging.getLogger(__name__)

PAGE = 100
PAGES_PER_POLL = 10
"""At most PAGE * PAGES_PER_POLL messages are fanned out per queue per interval."""

Runner = Callable[[Callable[[], Any]], Awaitable[Any]]
"""Runs a blocking call in the storage thread pool."""


class Subscriber(Protocol):
    """A socket that can take pushed frames."""

    binary: bool

    def push(self, frame: str | bytes) -> None:
        """Queue a pushed frame (the socket closes itself when it cannot keep up)."""


@dataclass
class Target:
    """One socket subscription: where to push, from which marker, until when."""

    socket: Subscriber
    after: int
    expires: float


class Watch:
    """The shared poll of one queue."""

    def __init__(
        self, hub: PushHub, project: str, queue: str, marker: int, interval: float
    ) -> None:
        self.project, self.queue = project, queue
        self.marker = marker
        self.targets: dict[str, Target] = {}
        self._hub = hub
        self._interval = interval
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Poll until no subscriber is left."""
        while self.targets:
            await asyncio.sleep(self._interval)
            try:
                found = await self._hub.run(self._fetch)
            except Exception as ex:  # storage trouble: try again next interval
                logger.warning("push poll of %s/%s failed: %s", self.project, self.queue, ex)
                continue
            self.fan_out(found)

    def _fetch(self) -> list[Message]:
        """New messages after ``marker`` (claimed and delayed included: a post is pushed)."""
        where = self._hub.store.at(self.project, self.queue)
        found: list[Message] = []
        marker = self.marker
        for _ in range(PAGES_PER_POLL):
            page = where.messages.list(
                self.project,
                self.queue,
                marker=str(marker),
                limit=PAGE,
                echo=True,
                include_claimed=True,
                include_delayed=True,
            )
            found.extend(page.items)
            if page.items:
                marker = page.items[-1].marker
            if len(page.items) < PAGE:
                break
        return found

    def fan_out(self, found: list[Message]) -> None:
        """Push each message to every live target that subscribed below its marker."""
        now = time.monotonic()
        for sub_id, target in list(self.targets.items()):
            if target.expires <= now:  # as Zaqar: an expired subscription gets nothing
                del self.targets[sub_id]
        for msg in found:
            self.marker = max(self.marker, msg.marker)
            document = notification(self.queue, msg.ttl, msg.body)
            frames: dict[bool, str | bytes] = {}
            for target in list(self.targets.values()):
                if msg.marker <= target.after:
                    continue
                binary = target.socket.binary
                if binary not in frames:
                    frames[binary] = encode(document, binary)
                target.socket.push(frames[binary])


class PushHub:
    """The watches of this process, by queue and by subscription id."""

    def __init__(self, store: QueueStore, run: Runner, interval: float) -> None:
        self.store = store
        self.run = run
        self._interval = interval
        self._watches: dict[tuple[str, str], Watch] = {}
        self._by_id: dict[str, Watch] = {}

    @property
    def watched(self) -> int:
        """How many queues are being polled."""
        return len(self._watches)

    def add(self, socket: Subscriber, sub: Subscribe) -> None:
        """Start pushing ``sub``'s queue to ``socket`` (replacing an earlier registration)."""
        self.remove(sub.subscription_id)
        key = (sub.project, sub.queue)
        watch = self._watches.get(key)
        if watch is None:
            watch = Watch(self, sub.project, sub.queue, sub.after, self._interval)
            self._watches[key] = watch
        watch.targets[sub.subscription_id] = Target(socket, sub.after, time.monotonic() + sub.ttl)
        self._by_id[sub.subscription_id] = watch
        if watch.task is None or watch.task.done():
            watch.task = asyncio.get_running_loop().create_task(self._poll(watch))

    async def _poll(self, watch: Watch) -> None:
        try:
            await watch.run()
        finally:
            if self._watches.get((watch.project, watch.queue)) is watch and not watch.targets:
                del self._watches[(watch.project, watch.queue)]

    def remove(self, subscription_id: str) -> None:
        """Stop pushing for a subscription (nothing if this process does not hold it)."""
        watch = self._by_id.pop(subscription_id, None)
        if watch is None:
            return
        watch.targets.pop(subscription_id, None)
        if not watch.targets:
            key = (watch.project, watch.queue)
            if self._watches.get(key) is watch:  # not a newer watch of the same queue
                del self._watches[key]
            if watch.task is not None:
                watch.task.cancel()

    def close(self) -> None:
        """Stop every watch."""
        for watch in list(self._watches.values()):
            if watch.task is not None:
                watch.task.cancel()
        self._watches.clear()
        self._by_id.clear()
