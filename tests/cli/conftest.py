"""Run the ``sqlqueue`` console script as a user would, and read its one-line refusals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import command

TIMEOUT = 90

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def sqlqueue(tmp_path: Path) -> Run:
    """Run ``sqlqueue ARGS...`` with no SQLQUEUE_* variables and a private data directory.

    Keyword arguments become environment variables. The command runs in its
    own session, killed whole (server workers included) if it outlives TIMEOUT.
    """

    def run(*args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
        env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
        env.update(env_extra)
        with subprocess.Popen(
            [*command(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        ) as process:
            try:
                out, err = process.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                out, err = process.communicate()
                pytest.fail(f"sqlqueue {' '.join(args)} ran past {TIMEOUT}s:\n{out}\n{err}")
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    return run


def refusal(result: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The one line a refused command printed on stderr (after checking there is only it)."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program (this test) listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])
