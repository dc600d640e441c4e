"""Encrypted queues and checksums through python-zaqarclient, across server restarts.

Each server is a real ``sqlqueue serve`` configured through the environment
(``SQLQUEUE_ENCRYPTION_KEYS``, ``SQLQUEUE_ENABLE_CHECKSUM``), as an operator would.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from zaqarclient.transport import errors as zaqar_errors

from sqlqueue.domain.bodies import checksum
from tests.conftest import ServerUrls
from tests.e2e.conftest import E2E_BACKENDS, HEADERS, Server, start, stop
from tests.e2e.test_zaqarclient import connect

pytestmark = pytest.mark.slow

K1 = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
K2 = f"k2:{base64.b64encode(os.urandom(32)).decode()}"
SECRET = {"token": "s3cr3t-value", "n": [1, 2]}


class Restarts:
    """Starts servers on one database, one at a time, with other settings."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.running: Server | None = None

    def serve(self, **env: str) -> Server:
        """Stop the running server, then start one with ``env``."""
        self.stop()
        log = self.logs / f"server{len(list(self.logs.iterdir()))}.log"
        self.running = start(self.url, log, **env)
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            stop(self.running.process)
            self.running = None


@pytest.fixture(params=E2E_BACKENDS)
def restarts(
    request: pytest.FixtureRequest, server_urls: ServerUrls, tmp_path: Path
) -> Iterator[Restarts]:
    """Servers over a fresh database of the backend."""
    found = Restarts(server_urls.url(str(request.param), "e2e_encryption"), tmp_path)
    yield found
    found.stop()


def test_encrypted_queue_with_checksums_across_restarts(restarts: Restarts) -> None:
    server = restarts.serve(SQLQUEUE_ENCRYPTION_KEYS=K1, SQLQUEUE_ENABLE_CHECKSUM="true")
    cli = connect(server)
    queue = cli.queue("vault", force_create=True)
    queue.metadata(new_meta={"_enable_encrypt_messages": True})
    assert queue.metadata(force_reload=True)["_enable_encrypt_messages"] is True
    queue.post([{"body": SECRET, "ttl": 600}, {"body": "second", "ttl": 600}])
    listed = list(queue.messages(echo=True))
    assert [(m.body, m.checksum) for m in listed] == [
        (SECRET, checksum(SECRET)),
        ("second", checksum("second")),
    ]
    assert queue.message(listed[0].id).checksum == checksum(SECRET)
    [claimed] = list(queue.claim(ttl=60, grace=60, limit=1))
    assert (claimed.body, claimed.checksum) == (SECRET, checksum(SECRET))
    claimed.delete()
    engine = sa.create_engine(restarts.url)
    with engine.connect() as conn:
        [stored] = conn.execute(sa.text("SELECT body FROM messages")).scalars()
    engine.dispose()
    assert stored.startswith("!aes256gcm:k1:") and "second" not in stored

    server = restarts.serve()  # the key is gone from the configuration
    url = f"{server.url}/v2/queues/vault/messages?echo=true"
    answer = requests.get(url, headers=HEADERS | {"X-Project-Id": "e2e"}, timeout=5)
    assert answer.status_code == 503
    assert answer.json()["title"] == "Service temporarily unavailable"
    assert "key 'k1', which is not configured" in answer.json()["description"]
    with pytest.raises(zaqar_errors.ServiceUnavailableError):
        list(connect(server).queue("vault").messages(echo=True))

    server = restarts.serve(SQLQUEUE_ENCRYPTION_KEYS=f"{K2},{K1}")  # k1 rotated out of writing
    queue = connect(server).queue("vault")
    queue.post({"body": "third", "ttl": 600})
    assert [m.body for m in queue.messages(echo=True)] == ["second", "third"]
    assert all(m.checksum is None for m in queue.messages(echo=True))
