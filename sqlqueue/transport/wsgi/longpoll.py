"""Long-poll (``?wait=N``): answer when something is available or the wait runs out.

Beyond Zaqar (SQS's ``WaitTimeSeconds``, PGMQ's ``read_with_poll``). The
request joins its queue's waiters, looks, and if it found nothing waits for
a post to its queue (``QueueWakeups``: pushed by the database, not polled
per request), then looks again. A post of n messages wakes n claim waiters
of its queue, the longest waiting first, and every listing waiter (a
listing takes nothing). ``wait=0`` is Zaqar's behaviour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import falcon

from sqlqueue.domain.limits import MAX_WAIT
from sqlqueue.observe.metrics import LONGPOLL_WAITERS
from sqlqueue.storage.base import QueueStore, QueueWakeups
from sqlqueue.storage.wakeup import Waiter

T = TypeVar("T")
DISCONNECT_KEY = "sqlqueue.on_disconnect"
PLACEMENT_RECHECK = 0.5
"""Seconds between looks at where an unplaced queue lives (``DataDriver.unplaced``):
a post in another process may place it on a pool and wake only that pool's waiters."""


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
    look: Look[T],
    disconnect: list[Callable[[], None]] | None = None,
) -> T:
    """``look.attempt()`` until ``look.found(result)``, waiting for posts up to ``wait`` seconds.

    ``attempt`` resolves the queue's driver itself. A queue with no pool yet
    is looked up again every ``PLACEMENT_RECHECK`` seconds while it is
    waited on: once a post places it, the request waits on (and looks in)
    its pool. When
    the server stops, waiters are released and answer with a last attempt;
    when the client disconnects (see ``on_disconnect``) the wait ends at once
    and no further attempt is made.

    Without a wait (``wait`` 0) it is one ``look.attempt()``: joining the
    queue's waiters is what keeps a look begun before a post from missing
    its wake-up, and a request that will not wait needs none. It takes no
    wake-up from a waiter either, so it has none to pass on
    (``storage.wakeup``).
    """
    if wait <= 0:  # PERF: a single look, without joining the queue's waiters
        return look.attempt()
    deadline = time.monotonic() + wait
    waiting = _Waiting(store, project, queue, look.consumes)
    if disconnect is not None:
        disconnect.append(waiting.cancel)
    try:
        while True:
            wakeups, waiter = waiting.current()
            result = look.attempt()
            waiting.more = look.full(result)
            remaining = deadline - time.monotonic()
            if look.found(result) or remaining <= 0 or waiting.gone:
                return result
            with LONGPOLL_WAITERS.track_inprogress():
                woken = waiting.wait(wakeups, waiter, deadline)
            if not woken:  # ran out, server stopping, or gone
                if waiting.gone:
                    return result
                result = look.attempt()  # what a last look finds
                waiting.more = look.full(result)
                return result
    finally:
        waiting.leave()


@dataclass(frozen=True)
class Look(Generic[T]):
    """What a long-poll does each time it looks, and how to read the result.

    ``consumes``: the look takes what it finds (a claim), so one post wakes
    one waiter per message; a listing takes nothing and every post wakes
    every listing waiter. ``full``: the result filled its limit, so more may
    be waiting for the next waiter.
    """

    attempt: Callable[[], T]
    found: Callable[[T], bool]
    consumes: bool = False
    full: Callable[[T], bool] = lambda _result: False


class _Waiting:
    """A request's registration with the wake-ups of its queue's current driver."""

    def __init__(self, store: QueueStore, project: str, queue: str, consumes: bool) -> None:
        self._store, self._project, self._queue = store, project, queue
        self._consumes = consumes
        self._lock = threading.Lock()
        self._joined: tuple[QueueWakeups, Waiter] | None = None
        self.gone = False
        self.more = False
        self._unplaced = False

    def current(self) -> tuple[QueueWakeups, Waiter]:
        """The wake-ups of the queue's driver now, joined (again if the driver changed)."""
        driver = self._store.at(self._project, self._queue)
        wakeups = driver.wakeups
        with self._lock:
            joined = self._joined
        if joined is not None and joined[0] is wakeups:
            return joined
        self._unplaced = driver.unplaced()
        waiter = wakeups.join(self._project, self._queue, consumes=self._consumes)
        with self._lock:
            self._joined = (wakeups, waiter)
            if self.gone:
                wakeups.cancel(waiter)
        if joined is not None:
            joined[0].leave(joined[1])
        return wakeups, waiter

    def wait(self, wakeups: QueueWakeups, waiter: Waiter, deadline: float) -> bool:
        """Wait on ``wakeups`` until woken (True) or ``deadline`` (monotonic seconds).

        A queue with no pool yet is looked up again every ``PLACEMENT_RECHECK``
        seconds; placed since (its wake-ups are another database's): True,
        look again. False when the deadline passes, the client leaves or the
        wake-ups are closed.
        """
        if not self._unplaced:
            return wakeups.wait(waiter, max(0.0, deadline - time.monotonic()))
        while True:
            until = min(deadline, time.monotonic() + PLACEMENT_RECHECK)
            if wakeups.wait(waiter, max(0.0, until - time.monotonic())):
                return True
            if self.gone or time.monotonic() < until or until >= deadline:
                return False  # gone, released (stopping), or ran out
            if self.current()[0] is not wakeups:
                return True  # placed on a pool meanwhile: look there

    def cancel(self) -> None:
        """The client left: end the wait at once (called from the server's event loop)."""
        with self._lock:
            self.gone = True
            if self._joined is not None:
                self._joined[0].cancel(self._joined[1])

    def leave(self) -> None:
        with self._lock:
            joined, self._joined = self._joined, None
        if joined is not None:
            joined[0].leave(joined[1], more=self.more)
