"""Big bodies in the blob store read back through Zaqar's websocket API, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlqueue.storage.blobs import FileBlobStore
from tests.websocket.conftest import RunningServer

BIG = {"blob": "z" * 3000}


def test_websocket_reads_claims_and_pops_blob_bodies(
    start_ws: Callable[..., RunningServer], tmp_path: Path
) -> None:
    client = start_ws(blobs=FileBlobStore(str(tmp_path))).client()
    meta = {"queue_name": "big", "metadata": {"_blob_threshold": 1024}}
    assert client.call("queue_create", meta)[0] == 201
    first, _second = client.post("big", BIG, "small")
    assert any(tmp_path.rglob("*"))  # the big body went to the store
    status, listed = client.call("message_list", {"queue_name": "big", "echo": True})
    assert status == 200 and [m["body"] for m in listed["messages"]] == [BIG, "small"]
    status, got = client.call("message_get", {"queue_name": "big", "message_id": first})
    assert status == 200 and got["messages"]["body"] == BIG
    status, claimed = client.call("claim_create", {"queue_name": "big", "limit": 1})
    assert status == 201 and [m["body"] for m in claimed["messages"]] == [BIG]
    client.close()
