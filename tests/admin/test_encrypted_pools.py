"""Encryption and checksums follow a queue to the pool it is placed on."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import sqlalchemy as sa

from sqlqueue.domain.bodies import checksum
from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import messages
from tests.admin.conftest import build_site, message_counts

K1 = f"k1:{base64.b64encode(os.urandom(32)).decode()}"


def test_a_pooled_queue_is_encrypted_in_its_pool(tmp_path: Path, clock: ManualClock) -> None:
    site = build_site(tmp_path, clock, encryption_keys=(K1,), enable_checksum=True)
    try:
        pool = site.sqlite_url("pool1")
        site.put_pool("pool1", pool)
        site.settle()
        assert (
            site.public.put("/v2/queues/vault", json={"_enable_encrypt_messages": True}).status_code
            == 201
        )
        [mid] = site.public.post_messages("vault", {"pin": "1234"})
        assert message_counts(pool) == {"vault": 1}
        engine = make_engine(pool)
        with engine.connect() as conn:
            [stored] = conn.execute(sa.select(messages.c.body)).scalars()
        engine.dispose()
        assert stored.startswith("!aes256gcm:k1:") and "pin" not in stored
        got = site.public.get(f"/v2/queues/vault/messages/{mid}").json
        assert (got["body"], got["checksum"]) == ({"pin": "1234"}, checksum({"pin": "1234"}))
    finally:
        for storage in site.storages:
            storage.close()
