"""``sqlqueue serve`` with a blob store that does not exist yet: set up once, before the workers.

Several workers opening a fresh SQLite blob store at once used to race to
create its tables ("database is locked") and take the server down.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import start, stop

pytestmark = pytest.mark.sqlite

HEADERS = {"Client-ID": str(uuid.UUID(int=11)), "X-Project-Id": "blobs"}


def test_a_new_sqlite_blob_store_is_made_before_the_workers_start(tmp_path: Path) -> None:
    store = tmp_path / "blobs.db"
    server = start(
        f"sqlite:///{tmp_path}/catalogue.db",
        tmp_path / "server.log",
        workers=2,
        SQLQUEUE_BLOB_STORE=f"sqlite:///{store}",
    )
    try:
        queue = f"{server.url}/v2/queues/big"
        made = requests.put(queue, headers=HEADERS, json={"_blob_threshold": 1024})
        assert made.status_code == 201, made.text
        body = "x" * 5000
        for _ in range(4):  # both workers answer some of these
            posted = requests.post(
                f"{queue}/messages", headers=HEADERS, json={"messages": [{"body": body}]}
            )
            assert posted.status_code == 201, posted.text
        listed = requests.get(f"{queue}/messages?echo=true", headers=HEADERS)
        assert [m["body"] for m in listed.json()["messages"]] == [body] * 4
        assert server.process.poll() is None
        assert "Traceback" not in server.output()
    finally:
        stop(server.process)
    with sqlite3.connect(store) as blobs:
        assert blobs.execute("SELECT count(*) FROM blobs").fetchone() == (4,)
