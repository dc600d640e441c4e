"""Notifications from a real ``sqlqueue serve``: python-zaqarclient, and a crash test.

The crash test posts 300 messages to a queue whose one webhook subscriber is
slow, kills the whole server (master and workers) with SIGKILL right after
the last 201, restarts it on the same database and checks that every
acknowledged message is notified at least once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BACKENDS, ServerUrls
from tests.e2e.conftest import HEADERS, START_TIMEOUT, Server, command, free_port, stop
from tests.e2e.test_zaqarclient import connect
from tests.notify.receivers import Answer, HttpReceiver, wait_until

pytestmark = pytest.mark.slow

NOTIFY_ENV = {
    "SQLQUEUE_NOTIFY_ALLOW_NETWORKS": "127.0.0.1/32",
    "SQLQUEUE_NOTIFY_POLL_INTERVAL": "0.1",
    "SQLQUEUE_NOTIFY_TIMEOUT": "2",
    "SQLQUEUE_SIGNED_URL_SECRET": "e2e-notify-secret",
    "SQLQUEUE_NOTIFY_PER_SUBSCRIPTION": "2",
}
MESSAGES = 300


def start_group(database_url: str, log: Path, workers: int = 2) -> Server:
    """``sqlqueue serve`` in a process group of its own (so SIGKILL reaches every worker)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env.update(NOTIFY_ENV)
    args = ["serve", "--port", str(port), "--database-url", database_url]
    args += ["--workers", str(workers)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command(), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    running = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until(lambda: _answers(running), START_TIMEOUT, f"sqlqueue serve:\n{running.output()}")
    except BaseException:
        kill(running)
        raise
    return running


def _answers(server: Server) -> bool:
    if server.process.poll() is not None:
        pytest.fail(f"sqlqueue serve exited early:\n{server.output()}")
    try:
        url = f"{server.url}/v2/ping"
        return requests.get(url, headers=HEADERS, timeout=2).status_code == 204
    except requests.RequestException:
        return False


def kill(server: Server) -> None:
    """SIGKILL the server's whole process group."""
    try:
        os.killpg(server.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    found = HttpReceiver()
    yield found
    found.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, server_urls: ServerUrls) -> str:
    return server_urls.url(str(request.param), f"notify_{uuid.uuid4().hex[:8]}")


def test_zaqarclient_subscription_is_notified(
    database_url: str, receiver: HttpReceiver, tmp_path: Path
) -> None:
    server = start_group(database_url, tmp_path / "server.log")
    try:
        cli = connect(server, project="notify-e2e")
        queue = cli.queue("watched", force_create=True)
        path = f"/zc/{uuid.uuid4().hex}"
        sub = cli.subscription(
            "watched",
            subscriber=receiver.url(path),
            ttl=3600,
            options={"post_headers": {"X-A": "b"}},
        )
        assert sub.id and sub.confirmed is False
        queue.post([{"body": {"n": 1}, "ttl": 300}, {"body": {"n": 2}}])
        got = receiver.wait(path, 2)
        assert sorted(r.json()["body"]["n"] for r in got) == [1, 2]
        assert {r.headers["X-A"] for r in got} == {"b"}
        item = f"{server.url}/v2/queues/watched/subscriptions/{sub.id}"
        headers = {**HEADERS, "X-Project-Id": "notify-e2e"}

        def state() -> dict[str, object]:
            return dict(requests.get(item, headers=headers, timeout=5).json()["delivery"])

        wait_until(lambda: state()["delivered"] == 2, 10, "two deliveries recorded")
        assert state() == {"delivered": 2, "pending": 0, "failed": 0, "last_error": None}
    finally:
        stop(server.process)


def test_a_topic_message_reaches_every_subscriber(
    database_url: str, receiver: HttpReceiver, tmp_path: Path
) -> None:
    """Topic fan-out through a real server: each subscriber of topic X, none of queue X."""
    server = start_group(database_url, tmp_path / "server.log", workers=1)
    headers = {**HEADERS, "X-Project-Id": "topic-e2e"}
    hooks = [f"/fan/{uuid.uuid4().hex}" for _ in range(3)]
    queue_hook = f"/fan/{uuid.uuid4().hex}"
    try:
        with requests.Session() as http:
            http.headers.update(headers)
            for url, path in [("/v2/topics/fan", p) for p in hooks] + [
                ("/v2/queues/fan", queue_hook)
            ]:
                body = {"subscriber": receiver.url(path), "ttl": 3600}
                assert http.post(f"{server.url}{url}/subscriptions", json=body).status_code == 201
            posted = http.post(
                f"{server.url}/v2/topics/fan/messages",
                json={"messages": [{"body": {"n": 1}}, {"body": {"n": 2}}]},
            )
            assert posted.status_code == 201, posted.text
            for path in hooks:
                got = receiver.wait(path, 2)
                assert sorted(r.json()["body"]["n"] for r in got) == [1, 2]
                assert {r.json()["queue_name"] for r in got} == {"fan"}
            assert http.delete(f"{server.url}/v2/topics/fan").status_code == 204
            listed = http.get(f"{server.url}/v2/queues/fan/subscriptions").json()
            assert [s["subscriber"] for s in listed["subscriptions"]] == [receiver.url(queue_hook)]
        assert receiver.at(queue_hook) == []
    finally:
        stop(server.process)


def test_sigkill_after_the_last_201_loses_nothing(
    database_url: str, receiver: HttpReceiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "server.log"
    path = f"/crash/{uuid.uuid4().hex}"
    receiver.plan(path, Answer(200, delay=0.3))
    server = start_group(database_url, log)
    acknowledged: list[str] = []
    headers = {**HEADERS, "X-Project-Id": "crash"}
    try:
        subscribed = requests.post(
            f"{server.url}/v2/queues/crashq/subscriptions",
            json={"subscriber": receiver.url(path), "ttl": 3600},
            headers=headers,
            timeout=10,
        )
        assert subscribed.status_code == 201
        item = f"/v2/queues/crashq/subscriptions/{subscribed.json()['subscription_id']}"
        with requests.Session() as session:
            for n in range(MESSAGES):
                answer = session.post(
                    f"{server.url}/v2/queues/crashq/messages",
                    json={"messages": [{"body": {"n": n}}]},
                    headers=headers,
                    timeout=10,
                )
                assert answer.status_code == 201, answer.text
                acknowledged.append(answer.json()["resources"][0].rsplit("/", 1)[-1])
    finally:
        kill(server)
    at_kill = len({r.headers["webhook-id"] for r in receiver.at(path)})
    restarted = start_group(database_url, log)
    try:

        def notified() -> set[str]:
            return {r.headers["webhook-id"].split(".", 1)[1] for r in receiver.at(path)}

        def pending() -> int:
            answer = requests.get(restarted.url + item, headers=headers, timeout=5)
            return int(answer.json()["delivery"]["pending"])

        wait_until(lambda: set(acknowledged) <= notified(), 120, "every message notified")
        wait_until(lambda: pending() == 0, 60, "an empty outbox (re-sent leases included)")
        received = receiver.at(path)
        delivered = len(notified() & set(acknowledged))
        duplicates = len(received) - len({r.headers["webhook-id"] for r in received})
        with capsys.disabled():
            print(
                f"\ncrash test: acknowledged={len(acknowledged)} delivered={delivered} "
                f"duplicates={duplicates} (delivered before the kill: {at_kill})"
            )
        assert delivered == len(acknowledged) == MESSAGES
        assert at_kill < MESSAGES  # the kill really interrupted delivery
    finally:
        stop(restarted.process)


def _delivered(port: int) -> float:
    """``sqlqueue_notification_deliveries_total{outcome="delivered"}`` of a notify process."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.ConnectionError:
        return 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("outcome") == "delivered":
                return sample.value
    return 0.0


def test_sqlqueue_notify_delivers_and_stops_on_sigterm(
    database_url: str, receiver: HttpReceiver, tmp_path: Path
) -> None:
    """A dedicated ``sqlqueue notify`` delivers what an API server without workers took."""
    log = tmp_path / "server.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env.update(NOTIFY_ENV)
    api_env = {**env, "SQLQUEUE_NOTIFY_IN_SERVE": "false"}
    args = ["serve", "--port", str(port), "--database-url", database_url, "--workers", "1"]
    with log.open("ab") as out:
        api = subprocess.Popen(
            [*command(), *args], stdout=out, stderr=subprocess.STDOUT, env=api_env
        )
    server = Server(f"http://127.0.0.1:{port}", api, log)
    path = f"/cli/{uuid.uuid4().hex}"
    headers = {**HEADERS, "X-Project-Id": "cli"}
    try:
        wait_until(lambda: _answers(server), START_TIMEOUT, "sqlqueue serve")
        queue = f"{server.url}/v2/queues/cliq"
        hook = {"subscriber": receiver.url(path)}
        assert (
            requests.post(f"{queue}/subscriptions", json=hook, headers=headers).status_code == 201
        )
        body = {"messages": [{"body": {"n": n}} for n in range(3)]}
        assert requests.post(f"{queue}/messages", json=body, headers=headers).status_code == 201
        time.sleep(1.0)
        assert receiver.at(path) == []  # the API server delivers nothing itself
        metrics = free_port()
        notifier = subprocess.Popen(
            [*command(), "--database-url", database_url, "notify"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**env, "SQLQUEUE_METRICS_PORT": str(metrics)},
        )
        try:
            assert sorted(r.json()["body"]["n"] for r in receiver.wait(path, 3)) == [0, 1, 2]
            wait_until(lambda: _delivered(metrics) == 3, 20, "3 deliveries in its metrics")
        finally:
            notifier.terminate()
            output, _ = notifier.communicate(timeout=30)
        assert notifier.returncode == 0
        assert b"sqlqueue: delivering notifications from the " in output
    finally:
        stop(api)
