"""Encrypted queues and checksums over the websocket API, on every backend."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

from sqlqueue.domain.bodies import checksum
from tests.websocket.conftest import RunningServer

K1 = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
SECRET = {"pin": "0000"}
FLAG = {"_enable_encrypt_messages": True}


def test_encrypted_queue_over_websockets(start_ws: Callable[..., RunningServer]) -> None:
    keyed = start_ws(encryption_keys=(K1,), enable_checksum=True).client()
    assert keyed.call("queue_create", {"queue_name": "v", "metadata": FLAG})[0] == 201
    [mid] = keyed.post("v", SECRET)
    status, body = keyed.call("message_list", {"queue_name": "v", "echo": True})
    assert status == 200
    [listed] = body["messages"]
    assert (listed["id"], listed["body"], listed["checksum"]) == (mid, SECRET, checksum(SECRET))
    status, body = keyed.call("claim_create", {"queue_name": "v", "ttl": 60, "grace": 60})
    assert status == 201 and [m["body"] for m in body["messages"]] == [SECRET]

    bare = start_ws().client()
    status, body = bare.call("message_get", {"queue_name": "v", "message_id": mid})
    assert status == 503
    assert "key 'k1', which is not configured" in body["error"]
    status, body = bare.call("queue_create", {"queue_name": "w", "metadata": FLAG})
    assert status == 400 and "encryption_keys" in body["error"]
    keyed.close()
    bare.close()
