"""``openstack messaging ...`` (python-openstackclient with python-zaqarclient's
plugin, unmodified) run as subprocesses against a real ``sqlqueue serve --admin``.

The CLI's ``--os-auth-type none`` cannot send ``X-Project-Id``, so the server
runs with ``noauth_project`` (docs/openstack-cli.md). Each ``openstack`` start
costs one to three seconds, so the full cycle runs on SQLite and PostgreSQL
(as issue 13 asks) and MySQL gets a shorter one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ServerUrls
from tests.e2e.conftest import Server, start, stop

pytestmark = pytest.mark.slow

PROJECT = "cli-project"
CLIENT_ID = "3381af92-2b9e-11e3-b191-71861300734c"
HEADERS = {"Client-ID": CLIENT_ID, "X-Project-Id": PROJECT}


def openstack_command() -> str:
    """The ``openstack`` script beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).with_name("openstack")
    found = str(beside) if beside.exists() else shutil.which("openstack")
    if not found:
        pytest.fail("python-openstackclient is not installed (pip install -e '.[test]')")
    return found


def run(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``openstack ARGS`` pointed at ``server`` without authentication."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_AUTH_TYPE="none", OS_ENDPOINT=server.url, OS_MESSAGE_CLIENT_ID=CLIENT_ID)
    return subprocess.run(
        [openstack_command(), *args], capture_output=True, text=True, env=env, timeout=60
    )


def ok(server: Server, *args: str) -> str:
    """The standard output of a command that must succeed."""
    done = run(server, *args)
    assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr}"
    return done.stdout


def api(server: Server, path: str) -> Any:
    """What the HTTP API answers ``GET path`` in the CLI's project."""
    answer = requests.get(f"{server.url}{path}", headers=HEADERS, timeout=10)
    answer.raise_for_status()
    return answer.json()


def rows(server: Server, *args: str) -> Any:
    """The table a command prints, as OSC's JSON formatter gives it."""
    return json.loads(ok(server, *args, "-f", "json"))


class AdminServers:
    """``sqlqueue serve --admin`` per backend, started on first use."""

    def __init__(self, urls: ServerUrls, logs: Path) -> None:
        self._urls = urls
        self._logs = logs
        self._started: dict[str, Server] = {}

    def get(self, backend: str) -> Server:
        """The running server of ``backend`` (started now if need be)."""
        if backend not in self._started:
            self._started[backend] = start(
                self._urls.url(backend, "e2e_openstack_cli"),
                self._logs / f"{backend}.log",
                backend,
                SQLQUEUE_ADMIN_MODE="true",
                SQLQUEUE_NOAUTH_PROJECT=PROJECT,
            )
        return self._started[backend]

    def stop(self) -> None:
        """Stop every server started."""
        for running in self._started.values():
            stop(running.process)


@pytest.fixture(scope="module")
def servers(
    server_urls: ServerUrls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AdminServers]:
    started = AdminServers(server_urls, tmp_path_factory.mktemp("openstack-cli"))
    yield started
    started.stop()


@pytest.fixture
def sqlite_server(servers: AdminServers) -> Server:
    return servers.get("sqlite")


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ],
)
def test_queue_message_claim_cycle(backend: str, servers: AdminServers) -> None:
    server = servers.get(backend)
    created = ok(server, "messaging", "queue", "create", "jobs")
    assert "| Name  | jobs  |" in created  # the default table format

    messages = json.dumps([{"body": {"n": 1}, "ttl": 300}, {"body": "two", "ttl": 600}])
    ok(server, "messaging", "message", "post", "jobs", messages)
    listed = rows(server, "messaging", "message", "list", "jobs", "--echo")
    assert [(m["Body"], m["TTL"]) for m in listed] == [({"n": 1}, 300), ("two", 600)]

    claimed = rows(
        server, "messaging", "claim", "create", "jobs", "--ttl", "60", "--grace", "60",
        "--limit", "1",
    )  # fmt: skip
    assert len(claimed) == 1
    claim_id = claimed[0]["Claim_ID"]
    assert (claimed[0]["Message_ID"], claimed[0]["Messages"]) == (listed[0]["ID"], {"n": 1})
    queried = rows(server, "messaging", "claim", "query", "jobs", claim_id)
    assert [(m["Message"], m["TTL"]) for m in queried] == [({"n": 1}, 300)]

    ok(server, "messaging", "claim", "release", "jobs", claim_id)
    assert api(server, "/v2/queues/jobs/stats")["messages"]["claimed"] == 0

    assert {"Name": "jobs"} in rows(server, "messaging", "queue", "list")
    ok(server, "messaging", "queue", "delete", "jobs")
    assert api(server, "/v2/queues")["queues"] == []


@pytest.mark.mysql
def test_post_and_claim_on_mysql(servers: AdminServers) -> None:
    server = servers.get("mysql")
    ok(server, "messaging", "message", "post", "mq", json.dumps([{"body": "hello"}]))
    claimed = rows(server, "messaging", "claim", "create", "mq", "--limit", "5")
    assert [m["Messages"] for m in claimed] == ["hello"]
    assert api(server, "/v2/queues/mq/stats")["messages"]["claimed"] == 1


@pytest.mark.sqlite
def test_subscriptions(sqlite_server: Server) -> None:
    requests.put(f"{sqlite_server.url}/v2/queues/events", headers=HEADERS, timeout=10)
    made = rows(
        sqlite_server, "messaging", "subscription", "create", "events",
        "mailto:ops@example.com", "3600", "--options", json.dumps({"from": "queues@example.com"}),
    )  # fmt: skip
    assert (made["Subscriber"], made["TTL"]) == ("mailto:ops@example.com", 3600)
    listed = rows(sqlite_server, "messaging", "subscription", "list", "events")
    assert [(s["ID"], s["Subscriber"], s["Options"]) for s in listed] == [
        (made["ID"], "mailto:ops@example.com", {"from": "queues@example.com"})
    ]


@pytest.mark.sqlite
def test_pools_and_flavors(sqlite_server: Server, server_urls: ServerUrls) -> None:
    pool_url = server_urls.url("sqlite", "cli_pool")
    pool = rows(sqlite_server, "messaging", "pool", "create", "p1", pool_url, "10")
    assert (pool["Name"], pool["Weight"], pool["URI"]) == ("p1", 10, pool_url)
    assert rows(sqlite_server, "messaging", "pool", "list") == [
        {"Name": "p1", "Weight": 10, "URI": pool_url, "Flavor": None}
    ]
    flavor = rows(sqlite_server, "messaging", "flavor", "create", "gold", "--pool_list", "p1")
    assert (flavor["Name"], flavor["Pool list"]) == ("gold", ["p1"])
    listed = rows(sqlite_server, "messaging", "flavor", "list", "--detailed")
    assert [(f["Name"], f["Pool list"]) for f in listed] == [("gold", ["p1"])]
    assert "FIFO" in listed[0]["Capabilities"]


@pytest.mark.sqlite
def test_refusals_are_one_line(sqlite_server: Server) -> None:
    refused = run(sqlite_server, "messaging", "queue", "create", "bad!name")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "The queue name may only contain ASCII letters, digits, underscores and dashes."
    ]
    usage = run(sqlite_server, "messaging", "message", "post", "q", "not-json")
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr
    assert usage.stderr.strip().splitlines()[-1].endswith("invalid loads value: 'not-json'")
