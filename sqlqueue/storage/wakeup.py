"""In-process wake-ups of waiting readers (long-poll), keyed by (project, queue).

A waiting request ``join``s its queue *before* it looks for messages and
``wait``s after looking; a post committed in between has already marked it,
so its wait returns at once: no wake-up is lost. Waking can be spurious
(the waiter looks again and waits again), never late.

Claims consume messages, so a post of n messages marks n claim waiters of
its queue (the longest waiting first), not all of them: "N waiters on one
queue and one new message: one of them gets it, the rest keep waiting"
(issue 10). Waking them all made every post, and every spurious wake-up,
cost one claim query per waiter of the queue (the thundering herd measured
in docs/long-poll.md). A claim waiter passes a wake-up on to the next one
when it leaves holding a mark it has not looked after (it found messages
with a look begun before the post, its wait ran out, or its client left),
or when its look took a full batch (more may be there). Listings consume
nothing: a post marks every listing waiter of its queue.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

Key = tuple[str, str]
"""(project, queue)."""


class Waiter:
    """One waiting request of one queue, made by ``Waker.join``.

    ``marked``: a post may have come since its last look (it looks again).
    ``cancelled``: its client left; its wait returns at once.
    """

    __slots__ = ("_condition", "cancelled", "consumes", "key", "marked")

    def __init__(self, key: Key, consumes: bool, lock: threading.Lock) -> None:
        self.key = key
        self.consumes = consumes
        self.marked = False
        self.cancelled = False
        self._condition = threading.Condition(lock)


class _Queue:
    """The waiters of one queue: claim waiters not yet marked (oldest first), listers."""

    __slots__ = ("claimers", "listers", "size")

    def __init__(self) -> None:
        self.claimers: OrderedDict[Waiter, None] = OrderedDict()
        self.listers: set[Waiter] = set()
        self.size = 0


class Waker:
    """Waiters per queue; thread-safe; ``close`` releases every waiter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[Key, _Queue] = {}
        self._closed = False

    def join(self, key: Key, *, consumes: bool) -> Waiter:
        """Register a waiter of ``key`` (before its first look).

        ``consumes``: it claims messages (one post wakes one such waiter per
        message) rather than lists them (every post wakes every lister).
        """
        waiter = Waiter(key, consumes, self._lock)
        with self._lock:
            queue = self._queues.setdefault(key, _Queue())
            queue.size += 1
            self._arm(queue, waiter)
        return waiter

    def wait(self, waiter: Waiter, timeout: float) -> bool:
        """Block until ``waiter`` is marked, cancelled or closed, or ``timeout`` seconds pass.

        Returns True when marked (the caller looks again; the waiter is
        armed again first, so a post during that look is not missed), False
        on timeout, cancellation or once closed.
        """
        with self._lock:
            waiter._condition.wait_for(
                lambda: waiter.marked or waiter.cancelled or self._closed, timeout
            )
            if not waiter.marked or waiter.cancelled or self._closed:
                return False
            queue = self._queues.get(waiter.key)
            if queue is not None:
                self._arm(queue, waiter)
            return True

    def leave(self, waiter: Waiter, *, more: bool = False) -> None:
        """Unregister ``waiter``; a claim waiter passes on a wake-up it did not use.

        ``more``: its last look took a full batch, so another waiter should look.
        """
        with self._lock:
            queue = self._queues.get(waiter.key)
            if queue is None:
                return
            queue.claimers.pop(waiter, None)
            queue.listers.discard(waiter)
            queue.size -= 1
            if queue.size <= 0:
                del self._queues[waiter.key]
            elif waiter.consumes and (waiter.marked or more):
                self._mark(queue, 1, listers=False)

    def cancel(self, waiter: Waiter) -> None:
        """End ``waiter``'s wait at once (its client left)."""
        with self._lock:
            waiter.cancelled = True
            waiter._condition.notify()

    def wake(self, key: Key, count: int = 1) -> None:
        """Up to ``count`` messages may have arrived in ``key``: wake that many claim
        waiters, and every lister, of that queue only."""
        with self._lock:
            queue = self._queues.get(key)
            if queue is not None:
                self._mark(queue, max(1, count), listers=True)

    def wake_all(self) -> None:
        """Wake one claim waiter and every lister of each queue (wake-ups may have
        been missed, e.g. during a reconnect); a full batch wakes the next."""
        for key in self.watched():
            self.wake(key)

    def watched(self) -> list[Key]:
        """The queues someone waits on now."""
        with self._lock:
            return list(self._queues)

    def waiting(self) -> int:
        """How many waiters there are now."""
        with self._lock:
            return sum(queue.size for queue in self._queues.values())

    def close(self) -> None:
        """Release every waiter and refuse new waits (they return False at once)."""
        with self._lock:
            self._closed = True
            for queue in self._queues.values():
                for waiter in [*queue.claimers, *queue.listers]:
                    waiter._condition.notify()
            # a marked claim waiter is out of ``claimers``; its predicate holds already

    # -- under the lock ------------------------------------------------------

    def _arm(self, queue: _Queue, waiter: Waiter) -> None:
        waiter.marked = False
        if waiter.consumes:
            queue.claimers[waiter] = None
        else:
            queue.listers.add(waiter)

    def _mark(self, queue: _Queue, count: int, *, listers: bool) -> None:
        for _ in range(min(count, len(queue.claimers))):
            waiter, _none = queue.claimers.popitem(last=False)
            waiter.marked = True
            waiter._condition.notify()
        if listers:
            for waiter in queue.listers:
                waiter.marked = True
                waiter._condition.notify()
