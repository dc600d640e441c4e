"""SQLite: one writer at a time per database file in a process, first come first served.

SQLite lets one connection write at a time. A connection that finds the
write lock taken does not queue for it: its busy handler sleeps and retries,
in steps that grow to 100 ms (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100,
100, … ms). So a writer that arrives while another holds the lock for 20 ms
may sleep 50 or 100 ms before its next try, and an unlucky one loses every
retry to writers that came later (docs/performance.md, "GC at depth": posts
of 266 to 718 ms with two producers and nothing else running).

The threads of one process therefore queue here before they ``BEGIN
IMMEDIATE``: a ``WriterLock`` per database file hands the turn to the
waiters in the order they came, the moment the previous writer is done. The
busy handler is left for writers of other processes (serve workers), which
this lock cannot see.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine


class WriterLock:
    """A re-entrant lock handed to its waiters in arrival order (no barging)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._waiters: deque[tuple[int, threading.Event]] = deque()

    def reset(self) -> None:
        """Free, with no one waiting: the state of a forked child, whose threads
        (the holder and the waiters of the parent) did not come along."""
        self._mutex = threading.Lock()
        self._owner, self._depth = None, 0
        self._waiters = deque()

    def acquire(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the turn; whether it was given."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._waiters:
                self._owner, self._depth = me, 1
                return True
            turn = (me, threading.Event())
            self._waiters.append(turn)
        if turn[1].wait(timeout):
            return True
        with self._mutex:
            if turn[1].is_set():  # handed over as the wait ran out
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        """Give the turn to the longest waiter, if any.

        :raises RuntimeError: the calling thread does not hold the lock.
        """
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a writer lock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._waiters:
                owner, turn = self._waiters.popleft()
                self._owner, self._depth = owner, 1
                turn.set()


_LOCKS: dict[str, WriterLock] = {}
_LOCKS_MUTEX = threading.Lock()


def _after_fork() -> None:
    """In a forked child (a serve worker), every lock starts free."""
    global _LOCKS_MUTEX
    _LOCKS_MUTEX = threading.Lock()
    for lock in _LOCKS.values():
        lock.reset()


os.register_at_fork(after_in_child=_after_fork)


def lock_for(engine: Engine) -> WriterLock | None:
    """The writer lock of ``engine``'s SQLite database (one per file per process);
    None for other backends."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        key = f"engine:{id(engine)}"  # private to the engine (and its StaticPool connection)
    else:
        key = str(Path(database).expanduser().resolve())
    with _LOCKS_MUTEX:
        found = _LOCKS.get(key)
        if found is None:
            found = _LOCKS[key] = WriterLock()
        return found


@contextmanager
def turn(lock: WriterLock | None, timeout: float) -> Iterator[None]:
    """Hold ``lock`` (if any) for the block.

    Past ``timeout`` seconds of waiting the block runs anyway, without the
    lock: SQLite's own busy timeout then decides, as it would with no lock.
    """
    held = lock is not None and lock.acquire(timeout)
    try:
        yield
    finally:
        if held:
            assert lock is not None
            lock.release()
