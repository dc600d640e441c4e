"""``auth_strategy = "keystone"`` end to end: a real Keystone, ``sqlqueue serve``, zaqarclient.

Keystone runs from its own virtualenv (tests/e2e/keystone.py); two
``sqlqueue serve`` processes (the public API and ``--admin``) validate
tokens with it through keystonemiddleware's auth_token.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from zaqarclient import transport
from zaqarclient.queues import client
from zaqarclient.transport import request

from tests.conftest import ServerUrls
from tests.e2e.conftest import E2E_BACKENDS, START_TIMEOUT, Server, command, free_port, stop
from tests.e2e.keystone import Identity, Keystone, running_keystone

pytestmark = pytest.mark.slow

CLIENT_ID = {"Client-ID": str(uuid.UUID(int=7))}


@dataclass
class Cloud:
    """Keystone, its users, and sqlqueue's public and admin servers behind it."""

    keystone: Keystone
    member: Identity
    """Role ``member`` on project ``alpha``."""
    stranger: Identity
    """Role ``member`` on project ``beta``."""
    public: Server
    admin_api: Server
    websocket: str
    """The public server's websocket API (ws://...)."""
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, who: Identity) -> str:
        """A token of ``who`` (one per user: each costs Keystone a second or so)."""
        if who.name not in self.tokens:
            self.tokens[who.name] = self.keystone.token(who)
        return self.tokens[who.name]

    def headers(self, who: Identity | None = None, **extra: str) -> dict[str, str]:
        """Client-ID, ``who``'s token if any, and ``extra``."""
        token = {"X-Auth-Token": self.token(who)} if who else {}
        return {**CLIENT_ID, **token, **extra}


@pytest.fixture(scope="module")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    """A fresh Keystone for this module."""
    with running_keystone(tmp_path_factory.mktemp("keystone")) as running:
        yield running


def keystone_env(keystone: Keystone, service: Identity, **extra: str) -> dict[str, str]:
    """The ``SQLQUEUE_*`` settings of a server validating tokens as ``service``."""
    settings = {
        "AUTH_STRATEGY": "keystone",
        "KEYSTONE_AUTH_URL": keystone.url,
        "KEYSTONE_USERNAME": service.name,
        "KEYSTONE_PASSWORD": service.password,
        "KEYSTONE_PROJECT_NAME": service.project_name,
        "SIGNED_URL_SECRET": "keystone-e2e",
        **extra,
    }
    return {f"SQLQUEUE_{name}": value for name, value in settings.items()}


def serve(database_url: str, log: Path, env: dict[str, str], *flags: str) -> Server:
    """Start ``sqlqueue serve`` and wait until it answers (401: nobody is authenticated)."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    args = ["serve", "--port", str(port), "--database-url", database_url, "--workers", "1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command(), *args, *flags], stdout=out, stderr=subprocess.STDOUT, env=environ | env
        )
    running = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(f"{running.url}/v2/ping", timeout=1)
            return running
        except requests.ConnectionError:
            time.sleep(0.1)
    stop(process)
    pytest.fail(f"sqlqueue serve did not start:\n{running.output()}")


@pytest.fixture(scope="module", params=E2E_BACKENDS)
def cloud(
    request: pytest.FixtureRequest,
    keystone: Keystone,
    server_urls: ServerUrls,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cloud]:
    """Users on Keystone, and both sqlqueue servers on a fresh database of the backend."""
    backend = str(request.param)
    tag = backend[:2]
    service = keystone.user(f"sqlqueue-{tag}", f"service-{tag}", "service")
    member = keystone.user(f"alice-{tag}", f"alpha-{tag}", "member")
    stranger = keystone.user(f"bob-{tag}", f"beta-{tag}", "member")
    database_url = server_urls.url(backend, "e2e_keystone")
    logs = tmp_path_factory.mktemp("keystone-sqlqueue")
    env = keystone_env(keystone, service, NOAUTH_PROJECT="demo")  # ignored under Keystone
    ws_port = free_port()
    websocket = ("--websocket", "--websocket-port", str(ws_port))
    public = serve(database_url, logs / "public.log", env, *websocket)
    try:
        admin_api = serve(database_url, logs / "admin.log", env, "--admin")
    except BaseException:
        stop(public.process)
        raise
    keystone.register_endpoint("messaging", public.url, region=backend)
    try:
        yield Cloud(keystone, member, stranger, public, admin_api, f"ws://127.0.0.1:{ws_port}")
    finally:
        stop(admin_api.process)
        stop(public.process)


def assert_unauthorized(answer: requests.Response, keystone: Keystone) -> None:
    """A 401 with Zaqar's error body, pointing at Keystone."""
    assert answer.status_code == 401, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body == {
        "title": "Unauthorized",
        "description": "The request you have made requires authentication.",
    }
    assert answer.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.url}"'


def test_a_request_without_a_token_is_refused(cloud: Cloud) -> None:
    for server in (cloud.public, cloud.admin_api):
        for method, path in [("GET", "/v2/queues"), ("PUT", "/v2/queues/q"), ("GET", "/v2/")]:
            answer = requests.request(method, server.url + path, headers=cloud.headers())
            assert_unauthorized(answer, cloud.keystone)
        assert '"PUT /v2/queues/q" 401 refused by Keystone auth_token' in server.output()


def test_a_bad_or_revoked_token_is_refused(cloud: Cloud) -> None:
    bad = cloud.headers(**{"X-Auth-Token": "gAAAAAB-not-a-token"})
    assert_unauthorized(requests.get(f"{cloud.public.url}/v2/queues", headers=bad), cloud.keystone)
    token = cloud.keystone.token(cloud.member)  # a token of its own, to revoke
    cloud.keystone.call("DELETE", "/auth/tokens", None, subject=token)
    revoked = cloud.headers(**{"X-Auth-Token": token})
    answer = requests.get(f"{cloud.public.url}/v2/queues", headers=revoked)
    assert_unauthorized(answer, cloud.keystone)


def queue_names(cloud: Cloud, who: Identity) -> list[str]:
    answer = requests.get(f"{cloud.public.url}/v2/queues", headers=cloud.headers(who))
    assert answer.status_code == 200, answer.text
    return [queue["name"] for queue in answer.json()["queues"]]


def test_the_project_is_the_tokens_not_the_headers(cloud: Cloud) -> None:
    name = f"mine-{uuid.uuid4().hex[:8]}"
    escape = cloud.headers(cloud.member, **{"X-Project-Id": cloud.stranger.project_id})
    created = requests.put(f"{cloud.public.url}/v2/queues/{name}", headers=escape, json={})
    assert created.status_code == 201, created.text
    assert name in queue_names(cloud, cloud.member)
    assert name not in queue_names(cloud, cloud.stranger)
    messages = f"{cloud.public.url}/v2/queues/{name}/messages"
    post = {"messages": [{"body": "for alpha"}]}
    assert requests.post(messages, headers=escape, json=post).status_code == 201
    theirs = requests.get(f"{messages}?echo=true", headers=cloud.headers(cloud.stranger))
    assert theirs.json()["messages"] == []
    mine = requests.get(f"{messages}?echo=true", headers=cloud.headers(cloud.member))
    assert [message["body"] for message in mine.json()["messages"]] == ["for alpha"]


def test_a_token_of_no_project_reaches_no_queue(cloud: Cloud) -> None:
    system = cloud.keystone.token(cloud.keystone.admin, system=True)
    headers = {**CLIENT_ID, "X-Auth-Token": system, "X-Project-Id": cloud.member.project_id}
    answer = requests.get(f"{cloud.public.url}/v2/queues", headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"title": "Missing header", "description": "Project-Id Missing"}


def test_admin_routes_need_the_admin_role(cloud: Cloud) -> None:
    admin = cloud.admin_api.url
    member = cloud.headers(cloud.member, **{"X-Roles": "admin"})  # replaced by the token's
    for path in ("/v2/pools", "/v2/health", "/v2/catalogue"):
        refused = requests.get(admin + path, headers=member)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json() == {
            "title": "Forbidden",
            "description": "This operation needs the admin role.",
        }
        allowed = requests.get(admin + path, headers=cloud.headers(cloud.keystone.admin))
        assert allowed.status_code == 200, (path, allowed.text)
    flavor = requests.put(f"{admin}/v2/flavors/gold", headers=member, json={"pool_list": []})
    assert flavor.status_code == 403
    assert requests.get(f"{admin}/v2/flavors", headers=member).status_code == 200
    assert requests.get(f"{admin}/v2/ping", headers=member).status_code == 204


def test_a_signed_url_needs_no_token(cloud: Cloud) -> None:
    url, name = cloud.public.url, f"shared-{uuid.uuid4().hex[:8]}"
    owner = cloud.headers(cloud.member)
    posted = requests.post(
        f"{url}/v2/queues/{name}/messages", headers=owner, json={"messages": [{"body": "hi"}]}
    )
    assert posted.status_code == 201, posted.text
    share = requests.post(f"{url}/v2/queues/{name}/share", headers=owner, json={})
    assert share.status_code == 200, share.text
    signed = share.json()
    headers = {
        **CLIENT_ID,
        "URL-Signature": signed["signature"],
        "URL-Expires": signed["expires"],
        "URL-Methods": ",".join(signed["methods"]),
        "URL-Paths": ",".join(signed["paths"]),
        "X-Project-Id": signed["project"],
    }
    listed = requests.get(f"{url}/v2/queues/{name}/messages?echo=true", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [m["body"] for m in listed.json()["messages"]] == ["hi"]
    forged = {**headers, "URL-Signature": "0" * 64}
    answer = requests.get(f"{url}/v2/queues/{name}/messages?echo=true", headers=forged)
    assert answer.status_code == 404
    assert answer.json()["description"] == "Invalid signed URL."


def keystone_client(cloud: Cloud, who: Identity, url: str | None, **more: str) -> Any:
    """python-zaqarclient authenticating with Keystone as ``who`` (at ``url``, or
    wherever Keystone's catalogue says); ``more``: further ``os_*`` options."""
    options = {
        **more,
        "os_auth_url": cloud.keystone.url,
        "os_username": who.name,
        "os_password": who.password,
        "os_project_name": who.project_name,
        "os_user_domain_name": "Default",
        "os_project_domain_name": "Default",
    }
    conf = {"auth_opts": {"backend": "keystone", "options": options}}
    return client.Client(url, version=2, conf=conf)


def test_zaqarclient_through_keystone(cloud: Cloud) -> None:
    cli = keystone_client(cloud, cloud.member, cloud.public.url)
    queue = cli.queue(f"jobs-{uuid.uuid4().hex[:8]}", force_create=True)
    queue.post([{"body": {"n": 1}, "ttl": 300}, {"body": {"n": 2}, "ttl": 300}])
    claimed = list(queue.claim(ttl=60, grace=60, limit=5))
    assert sorted(message.body["n"] for message in claimed) == [1, 2]
    for message in claimed:
        message.delete()
    assert queue.stats["messages"]["total"] == 0
    assert queue.name in queue_names(cloud, cloud.member)
    assert queue.name not in queue_names(cloud, cloud.stranger)


@pytest.mark.sqlite
def test_keystone_down_is_a_503(
    keystone: Keystone, server_urls: ServerUrls, tmp_path: Path
) -> None:
    service = Identity("nobody", "x", "service", "", "")
    nowhere = f"http://127.0.0.1:{free_port()}/v3"
    env = keystone_env(keystone, service, KEYSTONE_AUTH_URL=nowhere)
    server = serve(server_urls.url("sqlite", "e2e_keystone_down"), tmp_path / "log", env)
    try:
        token = keystone.token(keystone.admin)
        answer = requests.get(
            f"{server.url}/v2/queues", headers={**CLIENT_ID, "X-Auth-Token": token}
        )
    finally:
        stop(server.process)
    assert answer.status_code == 503, answer.text
    assert answer.json() == {
        "title": "Service unavailable",
        "description": "The Keystone service is temporarily unavailable.",
    }


def test_the_openapi_document_asks_for_a_token(cloud: Cloud) -> None:
    answer = requests.get(
        f"{cloud.public.url}/v2/openapi.json", headers=cloud.headers(cloud.member)
    )
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["components"]["securitySchemes"]["keystone"]["name"] == "X-Auth-Token"
    assert "401" in doc["paths"]["/v2/queues"]["get"]["responses"]


def test_zaqarclient_finds_sqlqueue_in_the_catalogue(
    request: pytest.FixtureRequest, cloud: Cloud
) -> None:
    backend = request.node.callspec.params["cloud"]
    cli = keystone_client(cloud, cloud.member, None, os_region_name=backend)
    queue = cli.queue(f"found-{uuid.uuid4().hex[:8]}", force_create=True)
    queue.post([{"body": "via the catalogue"}])
    assert [message.body for message in queue.messages(echo=True)] == ["via the catalogue"]
    assert queue.name in queue_names(cloud, cloud.member)


# -- the websocket API (Zaqar's ``authenticate`` action) ------------------------------------------


class Socket:
    """A websocket connection to the public server, speaking JSON frames."""

    def __init__(self, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the websocket process may still be starting
            try:
                self.ws = websocket.create_connection(url, timeout=20)
                return
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def call(self, action: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
        """Send one frame; the reply's status and body."""
        frame: dict[str, Any] = {"action": action, "headers": headers}
        if body is not None:
            frame["body"] = body
        self.ws.send(json.dumps(frame))
        reply = json.loads(self.ws.recv())
        return int(reply["headers"]["status"]), reply["body"]

    def close(self) -> None:
        self.ws.close()


def frame_headers(who: Identity, **extra: str) -> dict[str, str]:
    return {**CLIENT_ID, "X-Project-ID": who.project_id, **extra}


def test_websocket_frames_need_an_authenticated_connection(cloud: Cloud) -> None:
    socket = Socket(cloud.websocket)
    try:
        member, name = frame_headers(cloud.member), f"ws-{uuid.uuid4().hex[:8]}"
        status, body = socket.call("queue_create", member, {"queue_name": name})
        assert (status, body["error"]) == (403, "Not authentified.")
        bad = frame_headers(cloud.member, **{"X-Auth-Token": "gAAAAAB-not-a-token"})
        status, body = socket.call("authenticate", bad)
        assert (status, body["error"]) == (401, "Authentication failed.")
        status, body = socket.call("queue_create", member, {"queue_name": name})
        assert status == 403, body

        good = frame_headers(cloud.member, **{"X-Auth-Token": cloud.token(cloud.member)})
        assert socket.call("authenticate", good) == (200, {"message": "Authentified."})
        assert socket.call("queue_create", member, {"queue_name": name})[0] == 201
        post = {"queue_name": name, "messages": [{"body": "over the socket", "ttl": 300}]}
        assert socket.call("message_post", member, post)[0] == 201

        escape = frame_headers(cloud.stranger)  # the token is alpha's
        status, body = socket.call("message_post", escape, post)
        assert (status, body["error"]) == (403, "Not authenticated.")
        status, body = socket.call("queue_list", {**CLIENT_ID}, {})
        assert status == 400, body  # X-Project-ID is required, as on every frame
    finally:
        socket.close()
    assert name in queue_names(cloud, cloud.member)
    assert name not in queue_names(cloud, cloud.stranger)
    listed = requests.get(
        f"{cloud.public.url}/v2/queues/{name}/messages?echo=true",
        headers=cloud.headers(cloud.member),
    )
    assert [m["body"] for m in listed.json()["messages"]] == ["over the socket"]


def test_zaqarclient_websocket_transport_with_a_keystone_token(cloud: Cloud) -> None:
    name = f"wsclient-{uuid.uuid4().hex[:8]}"
    options = {"os_auth_token": cloud.token(cloud.member), "os_project_id": cloud.member.project_id}
    conf = {"auth_opts": {"backend": "keystone", "options": options}}
    Socket(cloud.websocket).close()  # the websocket process is up
    with transport.get_transport_for(cloud.websocket, options=conf) as ws:
        create = json.dumps({"queue_name": name})
        created = ws.send(request.Request(cloud.websocket, "queue_create", content=create))
        assert created.status_code == 201
        post = {"queue_name": name, "messages": [{"body": {"via": "zaqarclient"}, "ttl": 300}]}
        posted = ws.send(request.Request(cloud.websocket, "message_post", content=json.dumps(post)))
        assert posted.status_code == 201
        assert len(json.loads(posted.content)["message_ids"]) == 1
    listed = requests.get(
        f"{cloud.public.url}/v2/queues/{name}/messages?echo=true",
        headers=cloud.headers(cloud.member),
    )
    assert [m["body"] for m in listed.json()["messages"]] == [{"via": "zaqarclient"}]


def test_websocket_closes_with_4003_when_the_token_expires(cloud: Cloud) -> None:
    token, expires = cloud.keystone.short_token(cloud.member, seconds=15)
    socket = Socket(cloud.websocket)
    try:
        member = frame_headers(cloud.member)
        answer = socket.call("authenticate", {**member, "X-Auth-Token": token})
        assert answer[0] == 200, (answer, expires - time.time())
        assert socket.call("queue_list", member, {})[0] == 200
        socket.ws.settimeout(max(expires - time.time(), 0) + 10)
        opcode, data = socket.ws.recv_data(control_frame=True)
        while opcode != websocket.ABNF.OPCODE_CLOSE:
            opcode, data = socket.ws.recv_data(control_frame=True)
        assert time.time() >= expires
        code, reason = int.from_bytes(data[:2], "big"), data[2:].decode()
        assert (code, reason) == (4003, "Authentication expired.")
    finally:
        socket.close()
