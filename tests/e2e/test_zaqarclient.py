"""python-zaqarclient 4.x, unmodified, against a real ``sqlqueue serve``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from zaqarclient.queues import client
from zaqarclient.transport import errors as zaqar_errors

from tests.e2e.conftest import HEADERS, Server

pytestmark = pytest.mark.slow


def connect(server: Server, project: str = "e2e", **options: Any) -> Any:
    """A noauth client of ``project`` (or another auth backend via options)."""
    backend = options.pop("backend", "noauth")
    auth = {"backend": backend, "options": {"os_project_id": project, **options}}
    return client.Client(server.url, version=2, conf={"auth_opts": auth})


def fresh_queue(cli: Any) -> Any:
    """A new, created queue with a unique name."""
    return cli.queue(f"q-{uuid.uuid4().hex[:12]}", force_create=True)


def test_ping_and_homedoc(server: Server) -> None:
    cli = connect(server)
    assert cli.ping() is True
    home = cli.homedoc()
    assert "rel/queues" in home["resources"]


def test_startup_output(server: Server) -> None:
    output = server.output()
    expected = "SQLite database /" if server.backend == "sqlite" else "database postgresql"
    assert f"sqlqueue: {expected}" in output
    assert f"listening on {server.url}" in output
    assert "signed_url_secret" in output


def test_queue_metadata(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    assert queue.metadata()["_default_message_ttl"] == 3600
    meta = queue.metadata(new_meta={"_default_message_ttl": 600, "description": "jobs"})
    assert meta["_default_message_ttl"] == 600
    assert meta["description"] == "jobs"
    reloaded = queue.metadata(force_reload=True)
    assert (reloaded["_default_message_ttl"], reloaded["description"]) == (600, "jobs")
    cleared = queue.metadata(new_meta={"owner": "me"})
    assert cleared["owner"] == "me"
    assert "description" not in cleared
    assert cleared["_default_message_ttl"] == 3600


def test_post_list_get_and_delete(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    posted = queue.post([{"body": {"n": n}, "ttl": 300} for n in range(3)])
    assert len(posted["resources"]) == 3
    assert list(queue.messages()) == []
    messages = list(queue.messages(echo=True))
    assert [m.body for m in messages] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert messages[0].ttl == 300
    one = queue.message(messages[0].id)
    assert one.body == {"n": 0}
    many = list(queue.messages(messages[0].id, messages[1].id))
    assert sorted(m.body["n"] for m in many) == [0, 1]
    queue.delete_messages(messages[0].id, messages[1].id)
    assert [m.body for m in queue.messages(echo=True)] == [{"n": 2}]
    one = queue.message(messages[2].id)
    one.delete()
    with pytest.raises(zaqar_errors.ResourceNotFound):
        queue.message(messages[2].id)


def test_streaming_follows_next_links(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    queue.post([{"body": n} for n in range(25)])
    bodies = [m.body for m in queue.messages(echo=True, limit=10).stream()]
    assert bodies == list(range(25))


def test_claims(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    queue.post([{"body": n} for n in range(5)])
    claim = queue.claim(ttl=120, grace=60, limit=3)
    claimed = list(claim)
    assert [m.body for m in claimed] == [0, 1, 2]
    assert len(claim.id) == 32
    again = queue.claim(id=claim.id)
    assert again.ttl == 120
    assert again.age >= 0
    assert sorted(m.body for m in again) == [0, 1, 2]
    claim.update(ttl=300, grace=60)
    assert queue.claim(id=claim.id).ttl == 300
    for message in claimed:
        assert message.claim_id == claim.id
        message.delete()
    stats = queue.stats["messages"]
    assert (stats["free"], stats["claimed"], stats["total"]) == (2, 0, 2)
    rest = queue.claim(ttl=60, grace=60)
    assert [m.body for m in rest] == [3, 4]
    rest.delete()
    assert queue.stats["messages"]["free"] == 2


def test_claimed_message_needs_claim_id(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    queue.post({"body": "x"})
    claim = queue.claim(ttl=60, grace=60)
    (message,) = list(claim)
    plain = queue.message(message.id)
    plain.href = plain.href.split("?")[0]
    with pytest.raises(zaqar_errors.ForbiddenError):
        plain.delete()


def test_pop_and_stats(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    queue.post([{"body": n} for n in range(4)])
    popped = list(queue.pop(count=3))
    assert [m.body for m in popped] == [0, 1, 2]
    stats = queue.stats["messages"]
    assert stats["total"] == 1
    assert stats["oldest"]["href"].startswith(f"/v2/queues/{queue.name}/messages/")


def test_purge(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    queue.post([{"body": n} for n in range(3)])
    cli.subscription(queue.name, subscriber="http://127.0.0.1:9/hook", ttl=3600)
    queue.purge(resource_types=["messages"])
    assert queue.stats["messages"]["total"] == 0
    assert len(list(cli.subscriptions(queue.name))) == 1
    queue.purge()
    assert list(cli.subscriptions(queue.name)) == []


def test_queue_listing(server: Server) -> None:
    cli = connect(server, project=f"listing-{uuid.uuid4().hex[:8]}")
    names = sorted(fresh_queue(cli).name for _ in range(3))
    queues, count = cli.queues(with_count=True, detailed=True)
    listed = list(queues)
    assert [q.name for q in listed] == names
    assert count == 3
    assert listed[0].metadata()["_default_message_ttl"] == 3600
    cli.queue(names[0]).delete()
    assert [q.name for q in cli.queues()[0]] == names[1:]


def test_subscriptions(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    sub = cli.subscription(queue.name, subscriber="http://127.0.0.1:9/a", ttl=600, options={"k": 1})
    assert sub.id and sub.ttl == 600 and sub.options == {"k": 1}
    assert sub.confirmed is False
    same = cli.subscription(queue.name, subscriber="http://127.0.0.1:9/a", ttl=600)
    assert same.id == sub.id
    sub.update({"ttl": 900})
    listed = list(queue.subscriptions())
    assert [(s.id, s.ttl, s.subscriber) for s in listed] == [(sub.id, 900, "http://127.0.0.1:9/a")]
    sub.delete()
    assert list(cli.subscriptions(queue.name)) == []


def test_signed_url(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    queue.post({"body": "shared"})
    signed = queue.signed_url(paths=["messages"], methods=["GET"], ttl_seconds=600)
    assert signed["paths"] == [f"/v2/queues/{queue.name}/messages"]
    assert signed["project"] == "e2e"
    reader = connect(
        server,
        backend="signed-url",
        expires=signed["expires"],
        methods=signed["methods"],
        paths=signed["paths"],
        signature=signed["signature"],
    )
    shared = reader.queue(queue.name, auto_create=False)
    assert [m.body for m in shared.messages()] == ["shared"]
    headers = HEADERS | {
        "URL-Signature": "0" * 64,
        "URL-Expires": signed["expires"],
        "URL-Methods": "GET",
        "URL-Paths": signed["paths"][0],
    }
    forged = requests.get(f"{server.url}{signed['paths'][0]}", headers=headers, timeout=5)
    assert forged.status_code == 404


def test_projects_are_isolated(server: Server) -> None:
    alice, bob = connect(server, project="alice"), connect(server, project="bob")
    queue = fresh_queue(alice)
    queue.post({"body": "alice's"})
    (message,) = list(queue.messages(echo=True))
    with pytest.raises(zaqar_errors.ResourceNotFound):
        bob.queue(queue.name, auto_create=False).message(message.id)
    assert list(bob.queue(queue.name, auto_create=False).messages(echo=True)) == []


def test_errors_reach_the_client(server: Server) -> None:
    cli = connect(server)
    queue = fresh_queue(cli)
    with pytest.raises(zaqar_errors.MalformedRequest):
        queue.post({"body": 1, "ttl": 1})
    with pytest.raises(zaqar_errors.ResourceNotFound):
        queue.claim(id="f" * 32).ttl  # noqa: B018
    raw = requests.get(f"{server.url}/v2/queues", headers={"Accept": "application/xml"}, timeout=5)
    assert raw.status_code == 406
    assert raw.headers["x-openstack-request-id"].startswith("req-")
