"""Zaqar's websocket API (websocket.md): one asyncio server over the queue store.

``run`` serves until SIGTERM/SIGINT (or ``stop`` is set); the edge
(``sqlqueue/wsserve.py``) builds the store and calls it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable

from sqlqueue.config import Settings
from sqlqueue.storage.base import QueueStore
from sqlqueue.transport.websocket.server import Options, WebsocketServer

__all__ = ["Options", "WebsocketServer", "run"]

logger = logging.getLogger(__name__)

PARENT_CHECK = 1.0
"""Seconds between checks that the parent process is still alive."""


def run(
    store: QueueStore,
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    ready: Callable[[WebsocketServer], None] | None = None,
    parent_pid: int | None = None,
) -> None:
    """Serve until a signal, ``stop``, or the death of ``parent_pid``.

    ``ready`` is called with the server once connections are accepted
    (``server.port`` is the port bound).
    """
    asyncio.run(_serve(store, settings, stop, ready, parent_pid))


async def _serve(
    store: QueueStore,
    settings: Settings,
    stop: threading.Event | None,
    ready: Callable[[WebsocketServer], None] | None,
    parent_pid: int | None,
) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
    server = WebsocketServer(store, settings, Options.from_settings(settings))
    await server.start()
    if ready is not None:
        ready(server)
    try:
        while not done.is_set():
            if stop is not None and stop.is_set():
                break
            if parent_pid is not None and os.getppid() != parent_pid:
                logger.warning("the serving process went away; stopping the websocket server")
                break
            try:
                await asyncio.wait_for(done.wait(), PARENT_CHECK if stop is None else 0.1)
            except TimeoutError:
                pass
    finally:
        await server.stop()
