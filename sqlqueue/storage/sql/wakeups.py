"""Long-poll wake-ups over SQL: pushed by PostgreSQL, a shared poll elsewhere.

Posts made by this process wake its waiters directly (``posted``, after the
commit). Posts made by other processes arrive:

* on PostgreSQL, as ``NOTIFY`` events sent by the posting transaction
  itself (so only committed posts notify), received on one ``LISTEN``
  connection per process and database;
* on MySQL and SQLite, through one query per poll interval and process
  that reads the ``next_marker`` counters of the queues someone waits on
  (not one query per waiting request).

The watcher thread starts with the first wait and idles while nobody waits.
"""

from __future__ import annotations

import json
import logging
import select
import threading
import time
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlqueue.storage.base import QueueWakeups
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.tables import queues
from sqlqueue.storage.wakeup import Key, Waiter, Waker

logger = logging.getLogger(__name__)

CHANNEL = "sqlqueue_posts"
"""The PostgreSQL NOTIFY channel of posts; the payload is ``["project", "queue", count]``
(``["project", "queue"]`` from earlier versions: one message)."""
BATCH = 200
FORGET_SECONDS = 30.0
RETRY_SECONDS = 1.0


_PAYLOAD = json.JSONEncoder(separators=(",", ":"))
"""Built once (``json.dumps`` with an argument builds an encoder per call): every post
on PostgreSQL sends a payload."""


def notify_payload(project: str, queue: str, count: int) -> str:
    """The NOTIFY payload of a post of ``count`` messages to a queue (under 400 bytes)."""
    return _PAYLOAD.encode([project, queue, count])


def _event(payload: str) -> tuple[Key, int] | None:
    """The queue and message count of a NOTIFY payload; None if unreadable."""
    try:
        project, queue, *rest = json.loads(payload)
        count = int(rest[0]) if rest else 1
    except (ValueError, TypeError, IndexError):
        return None
    return (str(project), str(queue)), count


def _posted(before: int | None, after: int | None) -> int:
    """How many messages a move of a queue's ``next_marker`` counter stands for (at least 1)."""
    if before is None or after is None or after <= before:
        return 1  # the queue came or went: one look, a full batch wakes the next
    return after - before


class SqlWakeups(QueueWakeups):
    """Wake-ups of one database's queues for this process."""

    def __init__(self, db: Database, poll_seconds: float) -> None:
        self._db = db
        self._poll = poll_seconds
        self._waker = Waker()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._someone_waits = threading.Event()

    def join(self, project: str, queue: str, *, consumes: bool) -> Waiter:
        return self._waker.join((project, queue), consumes=consumes)

    def wait(self, waiter: Waiter, timeout: float) -> bool:
        self._start()
        self._someone_waits.set()
        return self._waker.wait(waiter, timeout)

    def leave(self, waiter: Waiter, *, more: bool = False) -> None:
        self._waker.leave(waiter, more=more)

    def cancel(self, waiter: Waiter) -> None:
        self._waker.cancel(waiter)

    def wake(self, project: str, queue: str, count: int = 1) -> None:
        self._waker.wake((project, queue), count)

    def posted(self, project: str, queue: str, count: int = 1) -> None:
        """``count`` messages committed to ``queue`` in this process: wake its waiters here."""
        self._waker.wake((project, queue), count)

    def waiting(self) -> int:
        """How many requests wait in this process."""
        return self._waker.waiting()

    def close(self) -> None:
        """Release every waiter (they answer as if their wait ran out) and stop watching."""
        self._stop.set()
        self._someone_waits.set()
        self._waker.close()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            target = self._listen if self._db.backend == "postgresql" else self._poll_markers
            self._thread = threading.Thread(target=target, name="sqlqueue-wakeups", daemon=True)
            self._thread.start()

    def _idle(self) -> bool:
        """Sleep while nobody waits; False once stopped."""
        while not self._waker.watched() and not self._stop.is_set():
            self._someone_waits.clear()
            self._someone_waits.wait(1.0)
        return not self._stop.is_set()

    # -- MySQL, SQLite: one shared poll of the waited queues' counters ------

    def _poll_markers(self) -> None:
        seen: dict[Key, int | None] = {}
        last_watched: dict[Key, float] = {}
        while self._idle():
            keys = self._waker.watched()
            try:
                found = self._db.run(partial(_counters, keys=keys), write=False)
            except Exception as ex:  # the database is away: waiters time out meanwhile
                logger.warning("long-poll watcher cannot read the queues: %s", ex)
                self._stop.wait(RETRY_SECONDS)
                continue
            now = time.monotonic()
            for key in keys:
                counter = found.get(key)
                if key not in seen:  # a post may have come before: one look, spurious at worst
                    self._waker.wake(key)
                elif seen[key] != counter:
                    self._waker.wake(key, _posted(seen[key], counter))
                seen[key], last_watched[key] = counter, now
            # Forget a queue only once nobody has waited on it for a while: the
            # next long-poll of a busy queue finds its counter known (no first-sight wake).
            for key in [k for k, at in last_watched.items() if now - at > FORGET_SECONDS]:
                del seen[key], last_watched[key]
            self._stop.wait(self._poll)

    # -- PostgreSQL: LISTEN on one connection --------------------------------

    def _listen(self) -> None:
        at_once = True
        while self._idle():
            try:
                self._listen_once()
            except Exception as ex:  # lost the connection: listen again
                logger.warning("long-poll LISTEN connection failed: %s", ex)
                # A pooled connection the server had closed: SQLAlchemy has just
                # dropped the pool's older connections, so the next one is new.
                if at_once and getattr(ex, "connection_invalidated", False):
                    at_once = False
                    continue
                self._stop.wait(RETRY_SECONDS)
                at_once = True

    def _listen_once(self) -> None:
        conn = self._db.engine.connect()
        try:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql(f"LISTEN {CHANNEL}")
            driver: Any = conn.connection.driver_connection  # None once detached
            conn.detach()  # ours alone, outside the pool
            self._waker.wake_all()  # posts made before we listened
            while not self._stop.is_set():
                ready, _, _ = select.select([driver], [], [], 1.0)
                if ready:
                    self._drain(driver)
        finally:
            conn.close()

    def _drain(self, conn: Any) -> None:
        conn.poll()
        events, conn.notifies[:] = list(conn.notifies), []
        for event in events:
            found = _event(event.payload)
            if found is not None:
                self._waker.wake(*found)


def _counters(conn: Connection, keys: list[Key]) -> dict[Key, int | None]:
    """``next_marker`` of each named queue (absent: the queue does not exist)."""
    found: dict[Key, int | None] = {}
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        stmt = sa.select(queues.c.project, queues.c.name, queues.c.next_marker).where(
            sa.tuple_(queues.c.project, queues.c.name).in_(chunk)
        )
        for row in conn.execute(stmt):
            found[(row.project, row.name)] = int(row.next_marker)
    return found
