"""Starting and stopping ``sqlqueue serve``: schema, access log, signals."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import HEADERS, start, stop

pytestmark = [pytest.mark.slow, pytest.mark.sqlite]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    server = start(f"sqlite:///{tmp_path}/q.db", tmp_path / "server.log")
    try:
        url = f"{server.url}/v2/queues/jobs/messages"
        posted = requests.post(url, json={"messages": [{"body": 1}]}, headers=HEADERS, timeout=5)
        assert posted.status_code == 201
        server.process.send_signal(signum)
        assert server.process.wait(timeout=20) == 0
    finally:
        stop(server.process)
    output = server.output()
    assert '"POST /v2/queues/jobs/messages" 201' in output
    assert "ms project=e2e request_id=req-" in output
    assert "Traceback" not in output


def test_restart_keeps_data_and_schema(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/q.db"
    for round_ in range(2):
        server = start(database, tmp_path / f"server{round_}.log")
        try:
            url = f"{server.url}/v2/queues/jobs/messages"
            requests.post(url, json={"messages": [{"body": round_}]}, headers=HEADERS, timeout=5)
            stats = requests.get(f"{server.url}/v2/queues/jobs/stats", headers=HEADERS, timeout=5)
            assert stats.json()["messages"]["total"] == round_ + 1
        finally:
            stop(server.process)


def test_configured_secret_keeps_signatures_valid(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/q.db"
    signatures = []
    for round_ in range(2):
        server = start(database, tmp_path / f"s{round_}.log", SQLQUEUE_SIGNED_URL_SECRET="s3cr3t")
        try:
            body = {"expires": "2999-01-01T00:00:00"}
            share = requests.post(
                f"{server.url}/v2/queues/jobs/share", json=body, headers=HEADERS, timeout=5
            )
            signatures.append(share.json()["signature"])
            assert "signed_url_secret" not in server.output()
        finally:
            stop(server.process)
    assert signatures[0] == signatures[1]
