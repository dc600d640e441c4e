"""Encrypted queues and checksums in storage, on every backend.

A "restart" is a second driver on the same database with other keys, as a
server restarted with another configuration would be.
"""

from __future__ import annotations

import base64
import os

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue import errors
from sqlqueue.domain.bodies import BodyCodec, checksum
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.crypto import Keyring
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.tables import deliveries, messages
from tests.storage.helpers import CLIENT, PROJECT, QUEUE

SECRET = {"card": "4111 1111 1111 1111", "note": "ünïcode"}
FLAG = {"_enable_encrypt_messages": True}
K1 = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
K2 = f"k2:{base64.b64encode(os.urandom(32)).decode()}"


def open_driver(
    engine: Engine, clock: ManualClock, *keys: str, checksums: bool = False
) -> SqlDataDriver:
    """A driver whose configuration has ``keys`` (newest first)."""
    bodies = BodyCodec(Keyring.parse(keys), checksums)
    return SqlDataDriver(engine, clock=clock, options=StorageOptions(bodies=bodies))


def raw(engine: Engine, table: sa.Table = messages) -> list[str]:
    """The body column as the database holds it, oldest row first."""
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table.c.body).order_by(table.c.id)).scalars())


def post(driver: SqlDataDriver, *bodies: object, queue: str = QUEUE) -> list[str]:
    return driver.messages.post(PROJECT, queue, [NewMessage(b, ttl=120) for b in bodies], CLIENT)


def assert_sealed(stored: str, key_id: str) -> None:
    """Sealed with ``key_id``; no part of SECRET shows (each has a non-base64 character)."""
    assert stored.startswith(f"!aes256gcm:{key_id}:")
    assert all(part not in stored for part in ('"card"', "4111 1111", "ünïcode", '"note"'))


@pytest.fixture
def keyed(engine: Engine, clock: ManualClock) -> SqlDataDriver:
    """A driver configured with key k1, holding the encrypted queue QUEUE."""
    driver = open_driver(engine, clock, K1)
    driver.queues.create(PROJECT, QUEUE, FLAG)
    return driver


def test_rows_hold_no_plaintext_and_every_read_opens_them(
    keyed: SqlDataDriver, engine: Engine
) -> None:
    first, second, _ = post(keyed, SECRET, SECRET, "plain text")
    assert len(raw(engine)) == 3
    for stored in raw(engine):
        assert_sealed(stored, "k1")
    listed = keyed.messages.list(PROJECT, QUEUE, echo=True).items
    assert [m.body for m in listed] == [SECRET, SECRET, "plain text"]
    assert keyed.messages.get(PROJECT, QUEUE, first).body == SECRET
    assert [m.body for m in keyed.messages.bulk_get(PROJECT, QUEUE, [second])] == [SECRET]
    claim_id, claimed = keyed.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=1)
    assert claim_id is not None and [m.body for m in claimed] == [SECRET]
    assert [m.body for m in keyed.claims.get(PROJECT, QUEUE, claim_id)[1]] == [SECRET]
    assert [m.body for m in keyed.messages.pop(PROJECT, QUEUE, 2)] == [SECRET, "plain text"]
    assert keyed.messages.first(PROJECT, QUEUE, sort=-1).id == first  # third was popped


def test_the_outbox_holds_no_plaintext(keyed: SqlDataDriver, engine: Engine) -> None:
    keyed.subscriptions.create(PROJECT, QUEUE, "http://h/1", 600, {})
    [mid] = post(keyed, SECRET)
    [stored] = raw(engine, deliveries)
    assert_sealed(stored, "k1")
    [taken] = keyed.deliveries.take_due(10, 30)
    assert (taken.message_id, taken.body) == (mid, SECRET)


def test_restart_without_the_key_refuses_to_read_or_write(
    keyed: SqlDataDriver, engine: Engine, clock: ManualClock
) -> None:
    [mid] = post(keyed, SECRET)
    for driver, why in (
        (open_driver(engine, clock), "key 'k1', which is not configured"),
        (open_driver(engine, clock, K2), "key 'k1', which is not configured"),
        (open_driver(engine, clock, "k1:" + K2.partition(":")[2]), "does not decrypt"),
    ):
        with pytest.raises(errors.BodyCipherFailed, match=why):
            driver.messages.list(PROJECT, QUEUE, echo=True)
        with pytest.raises(errors.BodyCipherFailed, match=why):
            driver.messages.get(PROJECT, QUEUE, mid)
        with pytest.raises(errors.BodyCipherFailed, match=why):
            driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
        with pytest.raises(errors.BodyCipherFailed, match=why):
            driver.messages.pop(PROJECT, QUEUE, 1)
    with pytest.raises(errors.BodyCipherFailed, match="no encryption key is configured"):
        post(open_driver(engine, clock), SECRET)
    assert len(raw(engine)) == 1  # nothing stored in plain text, nothing popped
    assert keyed.queues.stats(PROJECT, QUEUE).free == 1  # nothing left claimed
    assert keyed.messages.get(PROJECT, QUEUE, mid).body == SECRET


def test_rotation(keyed: SqlDataDriver, engine: Engine, clock: ManualClock) -> None:
    post(keyed, SECRET)
    rotated = open_driver(engine, clock, K2, K1)
    post(rotated, SECRET)
    old, new = raw(engine)
    assert_sealed(old, "k1")
    assert_sealed(new, "k2")
    bodies = [m.body for m in rotated.messages.list(PROJECT, QUEUE, echo=True).items]
    assert bodies == [SECRET, SECRET]


def test_turning_the_flag_on_and_off(engine: Engine, clock: ManualClock) -> None:
    """Each row says how it is stored: flipping the flag changes new posts only."""
    driver = open_driver(engine, clock, K1)
    post(driver, {"n": 1})
    driver.queues.set_metadata(PROJECT, QUEUE, FLAG)
    post(driver, {"n": 2})
    driver.queues.update_metadata(PROJECT, QUEUE, lambda meta: {})
    post(driver, {"n": 3})
    first, second, third = raw(engine)
    assert (first, third) == ('{"n":1}', '{"n":3}')
    assert second.startswith("!aes256gcm:k1:")
    bodies = [m.body for m in driver.messages.list(PROJECT, QUEUE, echo=True).items]
    assert bodies == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_the_flag_needs_a_key(keyed: SqlDataDriver, engine: Engine, clock: ManualClock) -> None:
    bare = open_driver(engine, clock)
    with pytest.raises(errors.EncryptionUnavailable, match="encryption_keys"):
        bare.queues.create(PROJECT, "other", FLAG)
    bare.queues.create(PROJECT, "other")
    with pytest.raises(errors.EncryptionUnavailable):
        bare.queues.set_metadata(PROJECT, "other", FLAG)
    with pytest.raises(errors.EncryptionUnavailable):
        bare.queues.update_metadata(PROJECT, "other", lambda meta: {**meta, **FLAG})
    assert bare.queues.get_metadata(PROJECT, "other") == {}
    # A queue that already encrypts keeps its flag through a change of other keys.
    changed = bare.queues.update_metadata(PROJECT, QUEUE, lambda meta: {**meta, "owner": "me"})
    assert changed == {**FLAG, "owner": "me"}


def test_dead_letters_stay_sealed(engine: Engine, clock: ManualClock) -> None:
    driver = open_driver(engine, clock, K1)
    meta = {**FLAG, "_max_claim_count": 1, "_dead_letter_queue": "dlq"}
    driver.queues.create(PROJECT, QUEUE, meta)
    post(driver, SECRET)
    driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    clock.advance(61)
    assert driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60) == (None, [])
    [stored] = raw(engine)
    assert_sealed(stored, "k1")
    [moved] = driver.messages.list(PROJECT, "dlq", echo=True).items
    assert moved.body == SECRET


def test_unreadable_notifications_wait_for_the_key(
    keyed: SqlDataDriver, engine: Engine, clock: ManualClock
) -> None:
    sid = keyed.subscriptions.create(PROJECT, QUEUE, "http://h/1", 600, {})
    assert sid is not None
    post(keyed, SECRET)
    bare = open_driver(engine, clock)
    assert bare.deliveries.take_due(10, 30) == []
    stats = keyed.subscriptions.delivery_stats(PROJECT, QUEUE, sid)
    assert stats.pending == 1 and "not configured" in (stats.last_error or "")
    clock.advance(61)
    [taken] = keyed.deliveries.take_due(10, 30)
    assert (taken.body, taken.attempts) == (SECRET, 1)
    clock.advance(120)  # the lease and the message's TTL are over
    assert bare.deliveries.take_due(10, 30) == []
    stats = keyed.subscriptions.delivery_stats(PROJECT, QUEUE, sid)
    assert (stats.pending, stats.failed) == (0, 1)


@pytest.mark.parametrize("encrypted", [False, True])
def test_checksums(engine: Engine, clock: ManualClock, encrypted: bool) -> None:
    driver = open_driver(engine, clock, K1, checksums=True)
    driver.queues.create(PROJECT, QUEUE, FLAG if encrypted else {})
    [mid, _] = post(driver, SECRET, [1, 2.5])
    expected = [checksum(SECRET), checksum([1, 2.5])]
    listed = driver.messages.list(PROJECT, QUEUE, echo=True).items
    assert [m.checksum for m in listed] == expected
    assert driver.messages.get(PROJECT, QUEUE, mid).checksum == expected[0]
    _, claimed = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=1)
    assert [m.checksum for m in claimed] == expected[:1]
    [popped] = driver.messages.pop(PROJECT, QUEUE, 1)
    assert popped.to_storage_dict()["checksum"] == expected[1]
    plain = open_driver(engine, clock, K1)
    assert plain.messages.get(PROJECT, QUEUE, mid).checksum is None
    assert "checksum" not in plain.messages.get(PROJECT, QUEUE, mid).to_storage_dict()
