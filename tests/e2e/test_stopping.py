"""SIGTERM with slow, idle and busy clients: received requests finish, the server exits soon."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import start, stop
from tests.e2e.front_door import JSON_HEADERS, SlowClients, address

pytestmark = [pytest.mark.slow, pytest.mark.sqlite]

EXIT_BOUND = 30.0
POSTED = 1000  # the most one post may carry (max_messages_per_post)


def test_sigterm_finishes_received_requests_and_exits_despite_lingering_clients(
    tmp_path: Path,
) -> None:
    server = start(f"sqlite:///{tmp_path}/q.db", tmp_path / "server.log", workers=2)
    try:
        where = address(server)
        slow = SlowClients(where, 20)  # never finish their heads
        idle = http.client.HTTPConnection(*where, timeout=10)  # kept alive, idle
        idle.request("GET", "/v2/ping", headers=JSON_HEADERS)
        assert idle.getresponse().status == 204
        messages = [{"body": {"n": n, "pad": "x" * 120}} for n in range(POSTED)]
        big = json.dumps({"messages": messages}).encode()
        busy = http.client.HTTPConnection(*where, timeout=30)
        busy.request("POST", "/v2/queues/stop/messages", body=big, headers=JSON_HEADERS)
        answer: dict[str, object] = {}

        def read_answer() -> None:
            response = busy.getresponse()
            answer["status"], answer["body"] = response.status, response.read()

        reader = threading.Thread(target=read_answer)
        reader.start()
        time.sleep(0.05)  # the post is in the server's hands
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        reader.join(timeout=EXIT_BOUND)
        code = server.process.wait(timeout=EXIT_BOUND)
        took = time.monotonic() - stopped_at
        slow.close()
    finally:
        stop(server.process)
    assert answer["status"] == 201  # received before the signal: answered in full
    assert len(json.loads(answer["body"])["resources"]) == POSTED  # type: ignore[arg-type]
    assert code == 0 and took < EXIT_BOUND
    assert "Traceback" not in server.output()
