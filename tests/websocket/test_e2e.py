"""``sqlqueue serve --websocket`` as a real subprocess: python-zaqarclient's
websocket transport, pushes of messages posted over HTTP, ``--websocket-only``,
and the memory of a server whose subscriber stops reading."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websocket
from zaqarclient.transport import errors as zaqar_errors
from zaqarclient.transport import get_transport_for
from zaqarclient.transport.request import Request

from tests.conftest import ServerUrls
from tests.e2e.conftest import E2E_BACKENDS, HEADERS, Server, command, free_port, stop
from tests.websocket.conftest import Client

START_TIMEOUT = 60.0
PROJECT = "e2e"


class WsServer(Server):
    """A running ``sqlqueue serve --websocket`` and its websocket URL."""

    ws_url = ""
    http = True


def _wait_for_websocket(server: WsServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"sqlqueue serve exited early:\n{server.output()}")
        try:
            websocket.create_connection(server.ws_url, timeout=2).close()
            return
        except (OSError, websocket.WebSocketException):
            time.sleep(0.2)
    pytest.fail(f"no websocket server within {START_TIMEOUT}s:\n{server.output()}")


def start(database_url: str, log: Path, *flags: str) -> WsServer:
    """Start ``sqlqueue serve`` with ``flags`` on free ports; wait for the websocket port."""
    port, ws_port = free_port(), free_port()
    args = ["serve", "--port", str(port), "--database-url", database_url, "--workers", "1"]
    args += ["--websocket-port", str(ws_port), *flags]
    with log.open("wb") as out:
        process = subprocess.Popen([*command(), *args], stdout=out, stderr=subprocess.STDOUT)
    running = WsServer(f"http://127.0.0.1:{port}", process, log)
    running.ws_url = f"ws://127.0.0.1:{ws_port}/"
    try:
        _wait_for_websocket(running)
    except BaseException:
        stop(process)
        raise
    return running


@pytest.fixture(scope="module", params=E2E_BACKENDS)
def served(
    request: pytest.FixtureRequest,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WsServer]:
    """``sqlqueue serve --websocket`` on a fresh database of the backend."""
    url = server_urls.url(str(request.param), "e2e_websocket")
    running = start(url, tmp_path_factory.mktemp("ws") / "server.log", "--websocket")
    try:
        yield running
    finally:
        stop(running.process)


def _http_post(server: WsServer, queue: str, *bodies: object) -> None:
    result = requests.post(
        f"{server.url}/v2/queues/{queue}/messages",
        headers={**HEADERS, "X-Project-Id": PROJECT},
        json={"messages": [{"body": body} for body in bodies]},
        timeout=10,
    )
    assert result.status_code == 201, result.text


def test_python_zaqarclient_websocket_transport(served: WsServer) -> None:
    """The real client: it authenticates first (accepted in noauth), then every
    request carries its fields in the body (its high-level API drops them)."""
    conf = {"auth_opts": {"options": {"os_auth_token": "noauth", "os_project_id": PROJECT}}}
    endpoint = served.ws_url
    with get_transport_for(endpoint, options=conf) as transport:

        def send(action: str, **body: object) -> tuple[int, object]:
            content = json.dumps(body) if body else None
            resp = transport.send(Request(endpoint, action, content=content))
            return resp.status_code, json.loads(resp.content)

        assert send("queue_create", queue_name="zc") == (201, "Queue zc created.")
        status, posted = send("message_post", queue_name="zc", messages=[{"body": {"n": 1}}])
        assert status == 201
        (message_id,) = posted["message_ids"]  # type: ignore[index]
        status, listed = send("message_list", queue_name="zc", echo=True)
        assert [m["id"] for m in listed["messages"]] == [message_id]  # type: ignore[index]
        status, claim = send("claim_create", queue_name="zc", ttl=60, grace=60)
        assert status == 201
        claim_id = claim["claim_id"]  # type: ignore[index]
        assert (
            send("message_delete", queue_name="zc", message_id=message_id, claim_id=claim_id)[0]
            == 204
        )
        assert send("claim_delete", queue_name="zc", claim_id=claim_id)[0] == 204
        status, stats = send("queue_get_stats", queue_name="zc")
        assert stats["messages"]["total"] == 0  # type: ignore[index]
        with pytest.raises(zaqar_errors.ResourceNotFound):
            send("queue_get_stats", queue_name="never-created")
        with pytest.raises(zaqar_errors.MalformedRequest) as bad:
            send("message_post", queue_name="zc", messages=[])
        assert "messages" in str(bad.value)  # our error text reaches the client's exception
        assert send("queue_delete", queue_name="zc") == (204, "Queue zc removed.")
        status, queues = send("queue_list")
        assert "zc" not in [q["name"] for q in queues["queues"]]  # type: ignore[index]


def test_socket_subscription_receives_a_message_posted_over_http(served: WsServer) -> None:
    listener = Client(served.ws_url, project=PROJECT)
    try:
        status, _ = listener.call("subscription_create", {"queue_name": "push", "ttl": 600})
        assert status == 201
        _http_post(served, "push", {"over": "http"})
        pushed = listener.recv(10)
        assert pushed == {
            "ttl": 3600,
            "body": {"over": "http"},
            "Message_Type": "Notification",
            "queue_name": "push",
        }
    finally:
        listener.close()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.sqlite
def test_a_non_reading_subscriber_does_not_grow_the_server(
    server_urls: ServerUrls, tmp_path: Path
) -> None:
    """40 MB posted over HTTP to a queue whose only socket subscriber never reads:
    the websocket process cuts it off (1008) and its memory stays flat."""
    served = start(server_urls.url("sqlite", "e2e_ws_memory"), tmp_path / "log", "--websocket")
    try:
        (ws_pid,) = [
            p
            for p in _children(served.process.pid)
            if b"wsserve" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        lazy = websocket.create_connection(
            served.ws_url, timeout=10, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
        )
        headers = {**HEADERS, "Client-ID": "3381af92-2b9e-11e3-b191-71861300734c"}
        lazy.send(
            json.dumps(
                {
                    "action": "subscription_create",
                    "headers": {**headers, "X-Project-ID": PROJECT},
                    "body": {"queue_name": "flood"},
                }
            )
        )
        assert json.loads(lazy.recv())["headers"]["status"] == 201
        before = _rss_kib(ws_pid)
        chunk = "z" * 200_000
        peak = before
        for _ in range(200):  # 40 MB
            _http_post(served, "flood", chunk)
            peak = max(peak, _rss_kib(ws_pid))
        deadline = time.monotonic() + 10
        while "send queue full" not in served.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "send queue full" in served.output()
        print(f"websocket process RSS {before} KiB before, peak {peak} KiB, 40 MB pushed")
        assert (peak - before) < 30 * 1024, f"websocket process grew {peak - before} KiB"
        lazy.shutdown()
        other = Client(served.ws_url, project=PROJECT)
        assert other.call("queue_list")[0] == 200
        other.close()
    finally:
        stop(served.process)


@pytest.mark.sqlite
def test_websocket_only_serves_no_http(server_urls: ServerUrls, tmp_path: Path) -> None:
    served = start(server_urls.url("sqlite", "e2e_ws_only"), tmp_path / "log", "--websocket-only")
    try:
        client = Client(served.ws_url, project=PROJECT)
        assert client.call("queue_create", {"queue_name": "only"})[0] == 201
        client.close()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{served.url}/v2/ping", timeout=2)
        assert "websocket API on ws://" in served.output()
    finally:
        stop(served.process)
    assert served.process.returncode == 0


@pytest.mark.sqlite
@pytest.mark.parametrize("flag", ["--websocket", "--websocket-only"])
def test_a_taken_websocket_port_is_one_line(server_urls: ServerUrls, flag: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                *command(),
                "serve",
                flag,
                "--websocket-port",
                str(port),
                "--port",
                str(free_port()),
                "--database-url",
                server_urls.url("sqlite", "e2e_ws_taken"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"sqlqueue: cannot listen on ws://127.0.0.1:{port} (Address already in use): "
        "choose another --websocket-port or --websocket-host"
    )
