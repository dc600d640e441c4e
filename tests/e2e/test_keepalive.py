"""Keep-alive never drops a request (issue 8, section 2).

On one HTTP/1.1 connection: an error answered before a large body was read
must not leave the body's bytes to be taken for the next request, and a
connection idle for 2 s must still be usable. Checked against ``sqlqueue
serve`` on every backend, and under gunicorn serving ``sqlqueue.wsgi:app``
(the app itself keeps the connection in step, whatever the server).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ServerUrls
from tests.e2e.conftest import Server, free_port, stop, wait_until_up
from tests.e2e.conftest import command as sqlqueue_command
from tests.e2e.front_door import ALL_BACKENDS, JSON_HEADERS, address, backend_server

pytestmark = pytest.mark.slow

KB = 1024
PAD_70K = "x" * (70 * KB)
EARLY_ERRORS = [
    pytest.param("PUT", "/v2/queues/q1", {"pad": PAD_70K}, id="queue-metadata-70KB"),
    pytest.param("PUT", "/v2/queues/bad$name", {"pad": PAD_70K}, id="bad-queue-name-70KB"),
    pytest.param(
        "POST", "/v2/queues/q1/claims?limit=99", {"ttl": 60, "pad": PAD_70K}, id="claim-limit-99"
    ),
    pytest.param(
        "POST", "/v2/queues/q1/messages", {"messages": [{"body": "x" * 270 * KB}]}, id="post-270KB"
    ),
]


@pytest.fixture(scope="module", params=ALL_BACKENDS)
def server(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """``sqlqueue serve`` on a fresh database of each backend."""
    with backend_server(str(request.param), server_urls, tmp_path_factory, "e2e_keepalive") as up:
        yield up


def send(
    conn: http.client.HTTPConnection, method: str, path: str, document: object
) -> http.client.HTTPResponse:
    """One request with a JSON body on ``conn``; the response, read in full."""
    conn.request(method, path, body=json.dumps(document).encode(), headers=JSON_HEADERS)
    response = conn.getresponse()
    response.read()
    return response


def assert_next_request_answered(
    where: tuple[str, int], method: str, path: str, document: object
) -> None:
    """The early 400, then an ordinary request on the same connection gets its answer."""
    conn = http.client.HTTPConnection(*where, timeout=10)
    try:
        first = send(conn, method, path, document)
        assert first.status == 400
        kept = first.getheader("Connection", "").lower() != "close"
        sock = conn.sock
        time.sleep(0.2)
        queue = f"q-{uuid.uuid4().hex[:8]}"
        second = send(conn, "PUT", f"/v2/queues/{queue}", {"d": 1})
        assert second.status == 201
        if kept:  # the server kept the connection: the answer came on it
            assert conn.sock is sock
    finally:
        conn.close()


@pytest.mark.parametrize(("method", "path", "document"), EARLY_ERRORS)
def test_early_error_keeps_connection_in_step(
    server: Server, method: str, path: str, document: object
) -> None:
    assert_next_request_answered(address(server), method, path, document)


def test_connection_idle_for_two_seconds_is_reused(server: Server) -> None:
    """The repro of the report: post, claim, read the claim, idle 2.0 s, read it again."""
    where = address(server)
    conn = http.client.HTTPConnection(*where, timeout=10)
    session = requests.Session()
    session.headers.update(JSON_HEADERS)
    try:
        assert send(conn, "POST", "/v2/queues/idle/messages", {"messages": [{"body": 1}]}).status
        claim = session.post(f"{server.url}/v2/queues/idle/claims", json={"ttl": 60})
        assert claim.status_code == 201
        location = claim.headers["Location"]
        assert session.get(f"{server.url}{location}").status_code == 200
        sock = conn.sock
        time.sleep(2.0)
        assert session.get(f"{server.url}{location}").status_code == 200
        assert send(conn, "GET", location, None).status == 200
        assert conn.sock is sock  # the same connection, still open after 2 s idle
    finally:
        conn.close()
        session.close()


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn (gthread) serving ``sqlqueue.wsgi:app`` on SQLite, as the README shows."""
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env["SQLQUEUE_DATABASE_URL"] = f"sqlite:///{tmp}/q.db"
    log = Path(tmp) / "server.log"
    subprocess.run([*sqlqueue_command(), "db", "upgrade"], env=env, check=True, capture_output=True)
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    command += ["--worker-class", "gthread", "--threads", "2", "sqlqueue.wsgi:app"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    running = Server(f"http://127.0.0.1:{port}", process, log, "sqlite")
    try:
        first_answer(running)
        wait_until_up(running)
        yield running
    finally:
        stop(process)


def first_answer(server: Server, timeout: float = 30) -> None:
    """Wait for the first answer: the app is built on the first request."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            requests.get(f"{server.url}/v2/ping", headers=JSON_HEADERS, timeout=timeout)
            return
        except requests.ConnectionError:
            time.sleep(0.1)


@pytest.mark.sqlite
@pytest.mark.parametrize(("method", "path", "document"), EARLY_ERRORS)
def test_early_error_keeps_connection_in_step_under_gunicorn(
    gunicorn_server: Server, method: str, path: str, document: object
) -> None:
    assert_next_request_answered(address(gunicorn_server), method, path, document)
