"""CPU seconds from /proc: a process and its descendants, and a database's server side.

``DatabaseCpu`` finds the server processes (PostgreSQL backends) or threads
(MariaDB/MySQL connection threads) serving one database, so the database's
work for a request is counted with the app's. It needs the server on this
machine and /proc readable (as the benches run here); elsewhere it counts 0
and says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

from .databases import Database
from .server import CLK_TCK, cpu_seconds


def _stat(path: Path) -> list[str] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def tree(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(Path("/proc", entry, "stat"))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def tree_cpu(root: int) -> dict[str, float]:
    """User + system CPU seconds of ``root`` and its descendants, by ``"pid"`` key."""
    return {f"p{pid}": cpu_seconds(pid) for pid in tree(root)}


def delta(before: dict[str, float], after: dict[str, float]) -> float:
    """CPU seconds spent between two readings (a process that appeared counts whole)."""
    return sum(value - before.get(key, 0.0) for key, value in after.items())


def _named(names: Iterable[str]) -> int | None:
    wanted = set(names)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path("/proc", entry, "comm").read_text().strip()
            except OSError:
                continue
            if comm in wanted:
                return int(entry)
    return None


class DatabaseCpu:
    """The CPU the database server spends on ``db``'s connections (not on this one's).

    PostgreSQL: the backend processes of the database (``pg_stat_activity``).
    MariaDB/MySQL: the connection threads of the schema (``PROCESSLIST.TID``,
    MariaDB 10.5+), read from the ``mariadbd``/``mysqld`` process's tasks.
    SQLite: nothing (its work runs in the app). ``available`` is False when
    the server is not on this machine.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._server = None if db.backend != "mysql" else _named(("mariadbd", "mysqld"))
        self.available = db.backend == "postgresql" or self._server is not None
        if db.backend == "postgresql":
            self.available = _named(("postgres",)) is not None

    def read(self) -> dict[str, float]:
        """CPU seconds by server process or thread of the database's connections."""
        if not self.available:
            return {}
        with self._db.engine.connect() as conn:
            if self._db.backend == "postgresql":
                pids = conn.exec_driver_sql(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).scalars()
                return {f"p{pid}": cpu_seconds(pid) for pid in pids}
            tids = conn.execute(
                sa.text(
                    "SELECT TID FROM information_schema.PROCESSLIST"
                    " WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
                )
            ).scalars()
            return {f"t{tid}": self._thread_cpu(int(tid)) for tid in tids}

    def _thread_cpu(self, tid: int) -> float:
        fields = _stat(Path(f"/proc/{self._server}/task/{tid}/stat"))
        return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK
