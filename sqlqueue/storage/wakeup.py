"""In-process wake-ups of waiting readers (long-poll), keyed by (project, queue).

A waiter takes a ticket *before* it looks for messages, then waits past
that ticket; a post bumps the queue's ticket and wakes every waiter of that
queue and no other. A post that lands between the look and the wait has
already moved the ticket, so the wait returns at once: no wake-up is lost.
Waking can be spurious (the waiter looks again and waits again), never late.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter

Key = tuple[str, str]
"""(project, queue)."""


MAX_TICKETS = 10000
"""Queues whose last post is remembered; past that, those nobody waits on are forgotten."""


class Waker:
    """Tickets and conditions per queue; thread-safe; ``close`` releases every waiter.

    A queue with no remembered post reads as ``floor``; forgetting posts
    moves the floor, so a ticket taken before can only wake spuriously.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serial = itertools.count(1)
        self._floor = 0
        self._tickets: dict[Key, int] = {}
        self._conditions: dict[Key, threading.Condition] = {}
        self._waiting: Counter[Key] = Counter()
        self._closed = False

    def ticket(self, key: Key) -> int:
        """The queue's current ticket (0 before any post seen here)."""
        with self._lock:
            return self._tickets.get(key, self._floor)

    def wait(self, key: Key, ticket: int, timeout: float) -> bool:
        """Block until the queue's ticket moves past ``ticket`` or ``timeout`` seconds pass.

        Returns True when woken by a post, False on timeout or once closed.
        """
        with self._lock:
            if self._closed:
                return False
            condition = self._conditions.setdefault(key, threading.Condition(self._lock))
            self._waiting[key] += 1
            try:
                moved = condition.wait_for(
                    lambda: self._closed or self._tickets.get(key, self._floor) != ticket, timeout
                )
                return bool(moved) and not self._closed
            finally:
                self._waiting[key] -= 1
                if self._waiting[key] <= 0:
                    del self._waiting[key]
                    del self._conditions[key]

    def bump(self, key: Key) -> None:
        """Messages may have arrived in the queue: wake its waiters."""
        with self._lock:
            if key not in self._tickets and len(self._tickets) >= MAX_TICKETS:
                self._forget_unwatched()
            self._tickets[key] = next(self._serial)
            condition = self._conditions.get(key)
            if condition is not None:
                condition.notify_all()

    def _forget_unwatched(self) -> None:
        self._floor = next(self._serial)
        self._tickets = {k: v for k, v in self._tickets.items() if k in self._waiting}

    def bump_all(self) -> None:
        """Wake every waiter (after wake-ups may have been missed, e.g. a reconnect)."""
        for key in self.watched():
            self.bump(key)

    def watched(self) -> list[Key]:
        """The queues someone waits on now."""
        with self._lock:
            return list(self._waiting)

    def waiting(self) -> int:
        """How many waiters there are now."""
        with self._lock:
            return sum(self._waiting.values())

    def close(self) -> None:
        """Release every waiter and refuse new waits (they return False at once)."""
        with self._lock:
            self._closed = True
            for condition in self._conditions.values():
                condition.notify_all()
