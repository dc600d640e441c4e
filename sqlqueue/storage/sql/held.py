"""Connections kept checked out between units of work, last used first.

PERF: checking a connection out of SQLAlchemy's ``QueuePool`` and back in,
with a new ``Connection`` around it, is about 85,000 instructions of Python
(valgrind: about 9% of the app's instructions for a one-message PostgreSQL
post, bench/instr_bench.py).
``Database.run`` instead takes a ``Connection`` from this short stack and
gives it back after the transaction ended, so a busy worker reuses the same
few connections without that round through the pool. The pool still opens,
checks and recycles them:

* a connection idle for ``engine.IDLE_PING_SECONDS`` or held for
  ``HOLD_SECONDS`` goes back to the pool first and is checked out afresh
  (the check-out pings one that sat idle: ``engine._ping_when_idle``);
* a unit of work that raised gives its connection back to the pool, where
  a lost one is replaced; when one is found lost, every kept one goes back
  too (``_EngineStacks``);
* at most ``KEPT`` idle connections are kept per engine and kind, and at
  most half the pool's ``pool_size``; the rest go back at once;
* ``close`` (``Database.dispose``) hands every kept connection back.

Every ``Database`` over one engine shares its stacks (``stacks``), so the
connections kept idle stay within those bounds however many there are.
Only a ``QueuePool`` of at least ``MIN_POOL`` connections is fronted this
way: a smaller pool could be emptied by connections kept idle here.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from sqlqueue.storage.sql import engine as engines

_STACKS: weakref.WeakKeyDictionary[Engine, weakref.ref[_EngineStacks]] = weakref.WeakKeyDictionary()
"""Each engine's stacks, held weakly: kept connections refer to their engine, so a
strong value would keep every engine (and its pooled connections) alive for good."""
_STACKS_LOCK = threading.Lock()
HOLD_SECONDS = 60.0
"""Seconds a connection is kept out of the pool at most (so that ``pool_recycle`` applies)."""
KEPT = 4
"""Idle connections kept per engine and kind at most."""
MIN_POOL = 4
"""The smallest ``pool_size`` an engine needs for its connections to be kept."""


_Kept = tuple[Connection, float, float]
"""An idle connection: it, when it left the pool and when its last unit of work
ended (``time.monotonic()``). PERF: a plain tuple; a ``NamedTuple``'s
constructor is a Python call per unit of work."""


class HeldConnections:
    """A stack of ``engine``'s checked-out connections, idle between units of work.

    Safe from several threads: ``list.pop`` and ``list.append`` are atomic,
    and a connection is on the stack only while nobody uses it.
    """

    def __init__(
        self, engine: Engine, limit: int = KEPT, options: dict[str, Any] | None = None
    ) -> None:
        self._engine = engine
        self._options = options or {}
        """Execution options of every connection of this stack."""
        pool = engine.pool
        fronted = isinstance(pool, QueuePool) and pool.size() >= MIN_POOL
        self._limit = min(limit, pool.size() // 2) if fronted else 0  # type: ignore[attr-defined]
        self._idle: list[_Kept] = []

    def take(self) -> tuple[Connection, float]:
        """A connection for one unit of work and when it left the pool (``give_back`` it)."""
        try:
            kept = self._idle.pop()
        except IndexError:
            return self._connect(), time.monotonic()
        conn, taken, used = kept
        now = time.monotonic()
        if now - used < engines.IDLE_PING_SECONDS and now - taken < HOLD_SECONDS:
            return conn, taken
        engines.idle_since(conn, used)  # the check-out below pings it if need be
        conn.close()
        return self._connect(), now

    def _connect(self) -> Connection:
        conn = self._engine.connect()
        if self._options:
            conn.execution_options(**self._options)
        return conn

    def give_back(self, conn: Connection, taken: float, *, clean: bool) -> None:
        """Keep ``conn`` for the next unit of work, or return it to the pool.

        ``clean``: its unit of work ended its transaction without an error.
        """
        if not clean or len(self._idle) >= self._limit or conn.invalidated:
            conn.close()
            return
        self._idle.append((conn, taken, time.monotonic()))

    def close(self) -> None:
        """Return every kept connection to the pool (later units keep some again)."""
        while True:
            try:
                kept = self._idle.pop()
            except IndexError:
                return
            kept[0].close()


def close_all(kept: list[HeldConnections]) -> None:
    """Return the kept connections of every stack in ``kept`` to their pools."""
    for stack in kept:
        stack.close()


class _EngineStacks:
    """One engine's stacks by ``write``; alive as long as the engine (its listener holds them).

    When one of the engine's connections is found lost, every kept one goes back to
    the pool: a lost connection usually means all of them are (a restarted server);
    the pool then replaces those checked out before on their next check-out, but
    kept ones are never checked out again. Back in the pool, they are.
    """

    def __init__(self, engine: Engine, write_options: dict[str, Any] | None) -> None:
        reads = HeldConnections(engine)
        writes = HeldConnections(engine, options=write_options) if write_options else reads
        self.by_write = {True: writes, False: reads}
        sa.event.listen(engine, "invalidate", self.drain)

    def drain(self, *_args: Any) -> None:
        """Return every kept connection of the engine to its pool."""
        close_all([*{*self.by_write.values()}])


def stacks(
    engine: Engine, write_options: dict[str, Any] | None = None
) -> dict[bool, HeldConnections]:
    """``engine``'s kept connections by ``write`` (the same stack for both unless
    ``write_options`` tell write transactions apart: SQLite's ``BEGIN IMMEDIATE``).

    One set per engine, whichever ``Database`` asks.
    """
    with _STACKS_LOCK:
        ref = _STACKS.get(engine)
        found = ref() if ref is not None else None
        if found is None:
            found = _EngineStacks(engine, write_options)
            _STACKS[engine] = weakref.ref(found)
        return found.by_write
