"""A real ``sqlqueue serve`` on a free port of 127.0.0.1, and its workers' CPU from /proc."""

# requests ships no type information (types-requests is not a project dependency).
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from .workload import BenchError

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
"""Seconds."""
STOP_TIMEOUT = 15.0
"""Seconds."""
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def serve_command() -> list[str]:
    """The ``sqlqueue`` script beside this interpreter, else ``python -m sqlqueue`` (the same)."""
    beside = Path(sys.executable).with_name("sqlqueue")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "sqlqueue"]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from the state (3rd) on


def children_of(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (the gunicorn workers), sorted."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == parent:
                found.append(int(entry))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


class Server:
    """A ``sqlqueue serve`` subprocess in its own process group; ``stop`` always stops it.

    ``url`` is ``http://127.0.0.1:<port>``; ``workers`` the worker pids once up.
    """

    def __init__(
        self,
        database_url: str,
        workers: int,
        log: Path,
        log_level: str | None,
        project: str,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = log
        self.project = project
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
        if log_level:
            env["SQLQUEUE_LOG_LEVEL"] = log_level
        args = ["serve", "--host", HOST, "--port", str(self.port), "--workers", str(workers)]
        args += ["--database-url", database_url, *extra_args]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*serve_command(), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own group: the workers can be killed with it
            )
        self.workers: list[int] = []

    def output(self, tail: int = 3000) -> str:
        """The last ``tail`` characters of the server's stdout and stderr."""
        return self.log.read_text(errors="replace")[-tail:]

    def wait_until_up(self, workers: int) -> None:
        """Poll /v2/ping until it answers 204 and every worker has forked."""
        deadline = time.monotonic() + START_TIMEOUT
        headers = {"Client-ID": str(uuid.uuid4()), "X-Project-Id": self.project}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"sqlqueue serve exited early:\n{self.output()}")
            try:
                ping = requests.get(f"{self.url}/v2/ping", headers=headers, timeout=1)
                self.workers = children_of(self.process.pid)
                if ping.status_code == 204 and len(self.workers) >= workers:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise BenchError(f"sqlqueue serve did not answer within {START_TIMEOUT}s:\n{self.output()}")

    def cpu(self) -> dict[int, float]:
        """CPU seconds of each worker, by pid."""
        return {pid: cpu_seconds(pid) for pid in self.workers}

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL for whatever of it is left."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its group: master and workers
                self.process.wait(timeout=5)
        for pid in self.workers:  # a worker that outlived its master (still in its group)
            fields = _stat_fields(pid)
            if fields is not None and int(fields[2]) == self.process.pid:
                os.kill(pid, signal.SIGKILL)


@contextmanager
def running_server(
    database_url: str,
    workers: int,
    log_dir: Path,
    log_level: str | None,
    project: str,
    extra_args: Sequence[str] = (),
) -> Iterator[Server]:
    """A started server with ``workers`` workers, up and answering; stopped on exit.

    ``extra_args`` are further ``sqlqueue serve`` flags. Its output goes to
    ``log_dir/server.log``; on a ``BenchError`` its tail is printed.
    """
    server = Server(database_url, workers, log_dir / "server.log", log_level, project, extra_args)
    try:
        server.wait_until_up(workers)
        yield server
    except BenchError:
        print(f"--- end of the server log:\n{server.output()}", file=sys.stderr)
        raise
    finally:
        server.stop()


def _stop_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: the server stops


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C does, so every ``running_server`` is stopped."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
