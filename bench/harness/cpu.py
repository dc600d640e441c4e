"""CPU seconds from /proc: a process and its descendants, and a database's server side.

``DatabaseCpu`` finds the server processes (PostgreSQL backends) or threads
(MariaDB/MySQL connection threads) serving one app's connections to a
database (matched by the client's TCP port), so the database's work for a
request is counted with the app's and with no other app's. It needs the server on this
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


def local_ports(pids: Iterable[int]) -> set[int]:
    """The local TCP ports of the sockets the processes ``pids`` hold open."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class DatabaseCpu:
    """The CPU the database server spends on the connections of given client ports.

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

    def read(self, ports: set[int]) -> dict[str, float]:
        """CPU seconds by server process or thread serving the database's connections
        from the client ``ports`` (``local_ports`` of an app's processes)."""
        if not self.available:
            return {}
        with self._db.engine.connect() as conn:
            if self._db.backend == "postgresql":
                rows = conn.exec_driver_sql(
                    "SELECT pid, client_port FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                )
                return {f"p{pid}": cpu_seconds(pid) for pid, port in rows if port in ports}
            rows = conn.execute(
                sa.text(
                    "SELECT TID, HOST FROM information_schema.PROCESSLIST WHERE DB = DATABASE()"
                )
            )
            return {
                f"t{tid}": self._thread_cpu(int(tid))
                for tid, host in rows
                if int(str(host).rsplit(":", 1)[-1] or 0) in ports
            }

    def _thread_cpu(self, tid: int) -> float:
        fields = _stat(Path(f"/proc/{self._server}/task/{tid}/stat"))
        return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK
