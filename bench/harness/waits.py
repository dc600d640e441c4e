"""What the sessions of a bench's database are doing, sampled from the server's own views.

``WaitSampler`` polls, on a connection of its own, every ``interval`` seconds:

* PostgreSQL: ``pg_stat_activity`` (``wait_event_type`` / ``wait_event`` of each
  active session, or ``CPU`` when it waits for nothing) and ``pg_blocking_pids``
  (who holds the lock a waiting session wants, from ``pg_locks``);
* MySQL/MariaDB: ``information_schema.PROCESSLIST`` (each running statement's
  ``STATE``), ``INNODB_TRX`` (``LOCK WAIT``) and ``INNODB_LOCK_WAITS`` (who
  blocks it); MariaDB's ``performance_schema`` is off by default, these are not.

Each session is given a role by the statement it runs (``roles``: a post, the
collector, its maintenance step), so the counts say where producers spend their
time while the collector runs, and whether any of it is waiting on a lock the
collector holds. A sample is one session seen once: samples are proportional to
time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

Role = Callable[[str], str]
"""The role of a session from the text of its statement ("" when it runs none)."""

PG_SAMPLE = """
SELECT pid, coalesce(wait_event_type, ''), coalesce(wait_event, ''), state,
       coalesce(query, ''), pg_blocking_pids(pid)
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend' AND state <> 'idle'
"""
MY_SAMPLE = """
SELECT p.ID, coalesce(p.STATE, ''), coalesce(p.INFO, ''), coalesce(t.trx_state, ''),
       coalesce(t.trx_id, ''),
       (SELECT group_concat(b.trx_mysql_thread_id)
          FROM information_schema.INNODB_LOCK_WAITS w
          JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
         WHERE w.requesting_trx_id = t.trx_id)
FROM information_schema.PROCESSLIST p
LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID()
  AND (p.COMMAND <> 'Sleep' OR t.trx_id IS NOT NULL)
"""


class WaitSampler:
    """Samples the database's sessions on a thread until ``stop``; counts per phase."""

    def __init__(self, engine: Engine, role: Role, interval: float = 0.01) -> None:
        self._engine = engine
        self._role = role
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.phase = ""
        self.counts: dict[str, Counter[tuple[str, str, str]]] = {}
        """phase -> (role, what it did, blocked by whom) -> samples."""
        self.rounds: Counter[str] = Counter()
        """phase -> samples taken."""
        self._last: dict[int, str] = {}
        """session -> the role of its last recognised statement (for its COMMIT)."""

    def start(self) -> None:
        """Start sampling on a daemon thread."""
        if self._engine.dialect.name not in ("postgresql", "mysql", "mariadb"):
            return
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        postgres = self._engine.dialect.name == "postgresql"
        with self._engine.connect() as conn:
            if not postgres:
                conn.exec_driver_sql("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
            while not self._stop.wait(self._interval):
                rows = conn.exec_driver_sql(PG_SAMPLE if postgres else MY_SAMPLE).all()
                conn.rollback()  # a fresh snapshot of the views each time
                self._count(rows, postgres)

    def _count(self, rows: list[Any], postgres: bool) -> None:
        phase = self.phase
        if not phase:
            return
        roles = {}
        for row in rows:
            role = self._role(row[4] if postgres else row[2])
            if role:
                self._last[row[0]] = role
            roles[row[0]] = role or self._last.get(row[0], "other")
        found = self.counts.setdefault(phase, Counter())
        self.rounds[phase] += 1
        for row in rows:
            if postgres:
                pid, kind, event, state, _query, blockers = row
                what = f"{kind}:{event}" if kind else ("CPU" if state == "active" else state)
                blocking = list(blockers or [])
            else:
                pid, state, _query, trx_state, _trx, blockers = row
                what = "LOCK WAIT" if trx_state == "LOCK WAIT" else (state or "in transaction")
                blocking = [int(b) for b in (blockers or "").split(",") if b]
            by = ",".join(sorted({roles.get(b) or self._last.get(b, "other") for b in blocking}))
            found[(roles[pid], what, by)] += 1


def table(sampler: WaitSampler, role: str) -> list[list[str]]:
    """Rows (phase, activity, blocked by, samples, share of the role's samples) for ``role``."""
    rows = [["phase", "activity", "blocked by", "samples", "share"]]
    for phase, counts in sampler.counts.items():
        mine = {key: n for key, n in counts.items() if key[0] == role}
        total = sum(mine.values()) or 1
        for (_, what, by), n in sorted(mine.items(), key=lambda item: -item[1]):
            rows.append([phase, what, by or "-", str(n), f"{100 * n / total:.1f}%"])
    return rows
