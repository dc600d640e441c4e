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


def test_a_sealed_dead_letter_stays_sealed_across_pools(tmp_path: Path, clock: ManualClock) -> None:
    site = build_site(tmp_path, clock, encryption_keys=(K1,))
    try:
        site.put_pool("one", site.sqlite_url("one"))
        site.settle()
        meta = {
            "_enable_encrypt_messages": True,
            "_dead_letter_queue": "dlq",
            "_max_claim_count": 1,
        }
        assert site.public.put("/v2/queues/vault", json=meta).status_code == 201
        assert site.public.put("/v2/queues/dlq").status_code == 201  # not encrypting
        site.put_pool("two", site.sqlite_url("two"))
        assert site.admin.put("/v2/catalogue/dlq", json={"pool": "two"}).status_code == 200
        site.public.post_messages("vault", {"pin": "1234"})
        claimed = site.public.post("/v2/queues/vault/claims", json={"ttl": 60, "grace": 60})
        claim_id = claimed.json["messages"][0]["href"].rsplit("claim_id=", 1)[-1]
        assert site.public.delete(f"/v2/queues/vault/claims/{claim_id}").status_code == 204

        again = site.public.post("/v2/queues/vault/claims", json={"ttl": 60, "grace": 60})

        assert again.status_code == 204
        engine = make_engine(site.sqlite_url("two"))
        with engine.connect() as conn:
            [stored] = conn.execute(sa.select(messages.c.body)).scalars()
        engine.dispose()
        assert stored.startswith("!aes256gcm:k1:") and "pin" not in stored
        listed = site.public.get("/v2/queues/dlq/messages?echo=true").json["messages"]
        assert [m["body"] for m in listed] == [{"pin": "1234"}]
    finally:
        for storage in site.storages:
            storage.close()
