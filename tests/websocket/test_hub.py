"""The shared polls of socket subscriptions, driven directly over a real store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import SingleStore
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.transport.websocket.actions import Subscribe
from sqlqueue.transport.websocket.push import PushHub

PROJECT = "hub"
CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"


class Collector:
    """A subscriber that keeps what it is pushed."""

    binary = False

    def __init__(self) -> None:
        self.frames: list[Any] = []

    def push(self, frame: str | bytes) -> None:
        self.frames.append(json.loads(frame))


def _hub(engine: Engine) -> tuple[SingleStore, PushHub]:
    store = SingleStore(SqlDataDriver(engine))

    async def run(call: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, call)

    return store, PushHub(store, run, interval=0.02)


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


def test_an_expired_subscription_leaves_a_newer_poll_of_its_queue_alone(engine: Engine) -> None:
    store, hub = _hub(engine)
    post = store.driver.messages.post
    expired, live = Collector(), Collector()

    async def scenario() -> None:
        hub.add(expired, Subscribe(PROJECT, "q", "old", after=0, ttl=0))
        await _until(lambda: hub.watched == 0)  # its only target expired: the poll ended
        hub.add(live, Subscribe(PROJECT, "q", "new", after=0, ttl=60))
        hub.remove("old")  # the socket of the expired one closes now
        assert hub.watched == 1
        await asyncio.to_thread(post, PROJECT, "q", [NewMessage(body="hello")], CLIENT)
        await _until(lambda: len(live.frames) == 1)
        hub.close()

    asyncio.run(scenario())
    assert live.frames[0]["body"] == "hello"
    assert expired.frames == []


def test_a_poll_pushes_each_message_once_in_marker_order(engine: Engine) -> None:
    store, hub = _hub(engine)
    post = store.driver.messages.post
    got = Collector()

    async def scenario() -> None:
        hub.add(got, Subscribe(PROJECT, "order", "s", after=0, ttl=60))
        for start in range(0, 250, 50):  # more than one page per poll
            batch = [NewMessage(body=n) for n in range(start, start + 50)]
            await asyncio.to_thread(post, PROJECT, "order", batch, CLIENT)
        await _until(lambda: len(got.frames) >= 250)
        await asyncio.sleep(0.1)
        hub.close()

    asyncio.run(scenario())
    assert [frame["body"] for frame in got.frames] == list(range(250))
