"""Long-poll (``?wait=N``): answer when something is available or the wait runs out.

Beyond Zaqar (SQS's ``WaitTimeSeconds``, PGMQ's ``read_with_poll``). The
request takes a wake-up ticket, looks, and if it found nothing waits for a
post to its queue (``QueueWakeups``: pushed by the database, not polled per
request), then looks again; several waiters of one queue all look again on
a post and those that find nothing wait on. ``wait=0`` is Zaqar's behaviour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import falcon

from sqlqueue.domain.limits import MAX_WAIT
from sqlqueue.observe.metrics import LONGPOLL_WAITERS
from sqlqueue.storage.base import QueueStore

T = TypeVar("T")
DISCONNECT_KEY = "sqlqueue.on_disconnect"


def wait_param(req: falcon.Request) -> int:
    """``wait`` in 0..MAX_WAIT seconds (400 otherwise); 0 when absent."""
    value = req.get_param_as_int("wait", min_value=0, max_value=MAX_WAIT)
    return value or 0


def on_disconnect(req: falcon.Request) -> list[Callable[[], None]] | None:
    """Where to register what to do if the client goes away while waiting.

    A server that can tell (``sqlqueue serve``'s front) puts a list under
    ``sqlqueue.on_disconnect`` in the WSGI environ and calls each entry when
    the client disconnects; elsewhere a waiter is freed when its wait ends.
    """
    found = req.env.get(DISCONNECT_KEY)
    return found if isinstance(found, list) else None


def long_poll(
    store: QueueStore,
    project: str,
    queue: str,
    wait: float,
    attempt: Callable[[], T],
    found: Callable[[T], bool],
    disconnect: list[Callable[[], None]] | None = None,
) -> T:
    """``attempt()`` until ``found(result)``, waiting for posts up to ``wait`` seconds.

    ``attempt`` resolves the queue's driver itself, so a queue placed while
    the request waits is found at the latest when the wait runs out. When
    the server stops, waiters are released and answer with a last attempt;
    when the client disconnects (see ``on_disconnect``) the wait ends at once.
    """
    deadline = time.monotonic() + wait
    gone = threading.Event()

    def client_left() -> None:
        gone.set()
        store.at(project, queue).wakeups.wake(project, queue)

    if disconnect is not None:
        disconnect.append(client_left)
    while True:
        wakeups = store.at(project, queue).wakeups
        ticket = wakeups.ticket(project, queue)
        result = attempt()
        remaining = deadline - time.monotonic()
        if found(result) or remaining <= 0 or gone.is_set():
            return result
        with LONGPOLL_WAITERS.track_inprogress():
            woken = wakeups.wait(project, queue, ticket, remaining)
        if not woken:
            return attempt()
