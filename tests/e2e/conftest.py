"""A real ``sqlqueue serve`` subprocess per backend, driven over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ServerUrls

E2E_BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
]
HEADERS = {"Client-ID": "0" * 32, "X-Project-Id": "e2e"}
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command() -> list[str]:
    """How to run the console script (or the module when not on PATH)."""
    script = shutil.which("sqlqueue")
    return [script] if script else [sys.executable, "-m", "sqlqueue"]


class Server:
    """A running ``sqlqueue serve`` and what it printed."""

    def __init__(
        self, url: str, process: subprocess.Popen[bytes], log: Path, backend: str = ""
    ) -> None:
        self.url = url
        self.backend = backend
        self.process = process
        self.log = log

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log.read_text(errors="replace")


def wait_until_up(server: Server) -> None:
    """Poll /v2/ping until it answers 204."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"sqlqueue serve exited early:\n{server.output()}")
        try:
            if requests.get(f"{server.url}/v2/ping", headers=HEADERS, timeout=1).status_code == 204:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail(f"sqlqueue serve did not answer within {START_TIMEOUT}s:\n{server.output()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def start(
    database_url: str, log: Path, backend: str = "", workers: int = 1, **env_extra: str
) -> Server:
    """Start ``sqlqueue serve`` on a free port and wait until it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env.update(env_extra)
    args = ["serve", "--port", str(port), "--database-url", database_url]
    args += ["--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command(), *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    running = Server(f"http://127.0.0.1:{port}", process, log, backend)
    try:
        wait_until_up(running)
    except BaseException:
        stop(process)
        raise
    return running


@pytest.fixture(scope="module", params=E2E_BACKENDS)
def server(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """A server on a fresh database of the backend (schema created by serve itself)."""
    backend = str(request.param)
    module = request.module.__name__.rsplit(".", 1)[-1]
    database_url = server_urls.url(backend, f"e2e_{module}")
    running = start(database_url, tmp_path_factory.mktemp("e2e") / "server.log", backend)
    try:
        yield running
    finally:
        stop(running.process)
