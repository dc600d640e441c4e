"""One logging set-up: ``log_format = "json"`` gives one JSON object per line (issue 7, §5)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Server, command, free_port, stop, wait_until_up
from tests.e2e.front_door import JSON_HEADERS

pytestmark = [pytest.mark.slow, pytest.mark.sqlite]


def serve_json_logs(tmp_path: Path) -> tuple[Server, Path, Path]:
    """``sqlqueue serve`` (2 workers, fresh SQLite) logging JSON; stdout and stderr apart."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env["SQLQUEUE_LOG_FORMAT"] = "json"
    args = ["serve", "--port", str(port), "--workers", "2"]
    args += ["--database-url", f"sqlite:///{tmp_path}/q.db"]
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([*command(), *args], stdout=stdout, stderr=stderr, env=env)
    server = Server(f"http://127.0.0.1:{port}", process, err)
    try:
        wait_until_up(server)
    except BaseException:
        stop(process)
        raise
    return server, out, err


def test_json_log_lines_carry_the_request_fields(tmp_path: Path) -> None:
    server, out, err = serve_json_logs(tmp_path)
    try:
        posted = requests.post(
            f"{server.url}/v2/queues/logq/messages",
            json={"messages": [{"body": 1}]},
            headers=JSON_HEADERS,
            timeout=10,
        )
        assert posted.status_code == 201
    finally:
        stop(server.process)
    lines = [line for line in err.read_text().splitlines() if line.strip()]
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]  # every line is JSON
    assert all(isinstance(record, dict) for record in records)
    access = [r for r in records if r["logger"] == "sqlqueue.access" and r["method"] == "POST"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == posted.headers["x-openstack-request-id"]
    assert (line["project"], line["queue"], line["status"]) == ("door", "logq", 201)
    assert line["path"] == "/v2/queues/logq/messages"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert {"time", "level", "pid", "message"} <= line.keys()
    server_lines = [r for r in records if r["logger"].startswith("_granian")]
    assert any("Spawning worker" in r["message"] for r in server_lines)  # granian's own, as JSON
    secret = [r for r in records if "signed_url_secret" in r["message"]]
    assert len(secret) == 1 and secret[0]["level"] == "WARNING"  # once, from the master
    assert not [r for r in records if r["logger"].startswith("alembic")]
    assert "listening on" in out.read_text()
