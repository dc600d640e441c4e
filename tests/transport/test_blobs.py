"""Big bodies routed to the blob store (``_blob_threshold``), as an HTTP client sees them.

Every backend holds the queue; the blob store is a directory or a second
database of the same backend. What a client reads must not change; what
the databases hold is checked directly (pointers in rows, bodies in the store).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import create_app, storage_options
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.base import SingleStore
from sqlqueue.storage.blobs import Blob, BlobStore, FileBlobStore
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.blobstore import SqlBlobStore
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import blobs as blob_table
from sqlqueue.storage.sql.tables import messages
from tests.conftest import ServerUrls
from tests.transport.conftest import ALL_BACKENDS, PROJECT, Api

Q = "/v2/queues/big"
ROUTED = {"_blob_threshold": 1024}
BIG = {"blob": "x" * 5000, "n": 1}
SMALL = {"n": 2}
CLAIM = {"ttl": 60, "grace": 60}
KEY = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
PATCH = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}

pytestmark = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)


@dataclasses.dataclass
class Blobs:
    """The API over a driver whose big bodies go to ``store``."""

    api: Api
    store: BlobStore
    driver: SqlDataDriver
    engine: Engine
    clock: ManualClock

    def gc(self) -> int:
        """One gc round of the service (rows, then blobs)."""
        single = SingleStore(self.driver)
        single.blobs, single.blob_grace, single.blob_clock = self.store, 60.0, self.clock
        return single.gc()

    def stored_bodies(self) -> list[str]:
        """The message rows' body column, in marker order."""
        with self.engine.connect() as conn:
            query = sa.select(messages.c.body).order_by(messages.c.marker)
            return list(conn.execute(query).scalars())

    def keys(self) -> list[str]:
        """The blob keys the message rows point to."""
        return [body.split(":", 1)[1] for body in self.stored_bodies() if body.startswith("&")]


def _database_store(server_urls: ServerUrls, backend: str) -> Iterator[BlobStore]:
    engine = make_engine(server_urls.url(backend, "blobs"))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(blob_table.delete())
    yield SqlBlobStore(engine)
    engine.dispose()


@pytest.fixture(params=["file", "database"])
def blob_store(
    request: pytest.FixtureRequest, backend: str, server_urls: ServerUrls, tmp_path: Path
) -> Iterator[BlobStore]:
    if request.param == "file":
        yield FileBlobStore(str(tmp_path / "blobs"))
    else:
        yield from _database_store(server_urls, backend)


def _site(
    settings: Settings, engine: Engine, clock: ManualClock, store: BlobStore, **more: object
) -> Blobs:
    configured = dataclasses.replace(settings, **more)  # type: ignore[arg-type]
    options = storage_options(configured, store)
    driver = SqlDataDriver(engine, clock=clock, options=options)
    api = Api(create_app(configured, driver=driver, clock=clock))
    return Blobs(api, store, driver, engine, clock)


@pytest.fixture
def site(settings: Settings, engine: Engine, clock: ManualClock, blob_store: BlobStore) -> Blobs:
    made = _site(settings, engine, clock, blob_store)
    assert made.api.put(Q, json=ROUTED).status_code == 201
    return made


def test_big_bodies_go_to_the_store_and_read_back_everywhere(site: Blobs) -> None:
    api = site.api
    big_id, small_id = api.post_messages("big", BIG, SMALL)
    rows = site.stored_bodies()
    assert rows[0].startswith("&blob:") and len(rows[0]) < 100
    assert json.loads(rows[1]) == SMALL
    assert json.loads(site.store.get(site.keys())[site.keys()[0]]) == BIG

    listed = api.get(f"{Q}/messages", params={"echo": "true"}).json["messages"]
    assert [m["body"] for m in listed] == [BIG, SMALL]
    assert api.get(f"{Q}/messages/{big_id}").json["body"] == BIG
    by_ids = api.get(f"{Q}/messages", query_string=f"ids={big_id},{small_id}").json
    assert sorted(json.dumps(m["body"]) for m in by_ids["messages"]) == sorted(
        json.dumps(b) for b in (BIG, SMALL)
    )
    claimed = api.post(f"{Q}/claims", json=CLAIM)
    assert claimed.status_code == 201
    assert [m["body"] for m in claimed.json["messages"]] == [BIG, SMALL]
    claim = claimed.headers["location"].rsplit("/", 1)[1]
    assert [m["body"] for m in api.get(f"{Q}/claims/{claim}").json["messages"]] == [BIG, SMALL]


def test_deleting_a_message_deletes_its_body(site: Blobs) -> None:
    api = site.api
    first, second, third, _small = api.post_messages("big", BIG, BIG, BIG, SMALL)
    k1, k2, k3 = site.keys()
    assert api.delete(f"{Q}/messages/{first}").status_code == 204
    assert set(site.store.get([k1, k2, k3])) == {k2, k3}

    claimed = api.post(f"{Q}/claims", params={"limit": 1}, json=CLAIM).json["messages"]
    href = claimed[0]["href"]
    assert claimed[0]["body"] == BIG and href.split("?")[0].endswith(second)
    assert api.delete(href).status_code == 204  # with its claim_id
    assert set(site.store.get([k2, k3])) == {k3}

    assert api.delete(f"{Q}/messages", params={"ids": third}).status_code == 204
    assert site.store.get([k3]) == {}
    listed = api.get(f"{Q}/messages", params={"echo": "true"}).json["messages"]
    assert [m["body"] for m in listed] == [SMALL]


def test_pop_returns_the_body_then_deletes_it(site: Blobs) -> None:
    site.api.post_messages("big", BIG, SMALL)
    [key] = site.keys()
    popped = site.api.delete(f"{Q}/messages", params={"pop": 2})
    assert [m["body"] for m in popped.json["messages"]] == [BIG, SMALL]
    assert site.store.get([key]) == {}


def test_expiry_and_orphans_are_collected_and_claimed_bodies_kept(site: Blobs) -> None:
    api = site.api
    api.post_messages("big", BIG, ttl=60)
    api.post_messages("big", BIG, ttl=60)
    kept, expiring = site.keys()
    orphan = Blob("0" * 32, PROJECT, "big", '"lost"', int(site.clock() * 1000) + 60_000)
    site.store.put([orphan])  # a post that crashed after writing its body
    claimed = api.post(f"{Q}/claims", params={"limit": 1}, json={"ttl": 600, "grace": 60})
    assert claimed.json["messages"][0]["body"] == BIG  # extends the message to 660 s
    site.clock.advance(100)  # past the TTL, within blob_grace (60 s)
    site.gc()
    assert set(site.store.get([kept, expiring, orphan.key])) == {kept, expiring, orphan.key}
    site.clock.advance(100)  # past TTL + grace
    site.gc()
    assert set(site.store.get([kept, expiring, orphan.key])) == {kept}
    claim = claimed.headers["location"].rsplit("/", 1)[1]
    held = api.get(f"{Q}/claims/{claim}").json["messages"]
    assert [m["body"] for m in held] == [BIG]


def test_encrypted_queue_keeps_blob_bodies_sealed(
    settings: Settings, engine: Engine, clock: ManualClock, blob_store: BlobStore
) -> None:
    site = _site(settings, engine, clock, blob_store, encryption_keys=(KEY,))
    api = site.api
    assert api.put(Q, json={**ROUTED, "_enable_encrypt_messages": True}).status_code == 201
    secret = {"password": "hunter2" * 300}
    api.post_messages("big", secret)
    [key] = site.keys()
    assert site.store.get([key])[key].startswith("!aes256gcm:k1:")
    assert "hunter2" not in site.store.get([key])[key]
    assert "hunter2" not in "".join(site.stored_bodies())
    assert api.get(f"{Q}/messages", params={"echo": "true"}).json["messages"][0]["body"] == secret


def test_dead_lettered_and_notified_bodies(site: Blobs) -> None:
    api = site.api
    rules = {**ROUTED, "_max_claim_count": 1, "_dead_letter_queue": "dead"}
    assert api.put("/v2/queues/dl", json=rules).status_code == 201
    hook = {"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600}
    assert api.post("/v2/queues/dl/subscriptions", json=hook).status_code == 201
    api.post_messages("dl", BIG)
    [key] = site.keys()
    [delivery] = site.driver.deliveries.take_due(10, 30.0)
    assert delivery.body == BIG
    assert api.post("/v2/queues/dl/claims", json={"ttl": 60, "grace": 60}).status_code == 201
    site.clock.advance(61)
    assert api.post("/v2/queues/dl/claims", json=CLAIM).status_code == 204  # dead-lettered
    dead = api.get("/v2/queues/dead/messages", params={"echo": "true"}).json["messages"]
    assert [m["body"] for m in dead] == [BIG]
    # Deleted while its notification is pending: the body stays for the notification.
    assert api.delete(f"/v2/queues/dead/messages/{dead[0]['id']}").status_code == 204
    assert set(site.store.get([key])) == {key}


def test_purging_or_deleting_the_queue_deletes_the_bodies(site: Blobs) -> None:
    api = site.api
    api.post_messages("big", BIG, BIG, SMALL)
    purged = site.keys()
    assert api.post(f"{Q}/purge", json={"resource_types": ["messages"]}).status_code == 204
    api.post_messages("big", BIG)
    deleted = site.keys()
    assert api.delete(Q).status_code == 204
    assert site.store.get(purged + deleted) == {}
    assert site.stored_bodies() == []


def test_gc_keeps_the_bodies_of_dead_letters_that_outlive_their_first_ttl(site: Blobs) -> None:
    api = site.api
    rules = {
        **ROUTED,
        "_max_claim_count": 1,
        "_dead_letter_queue": "dead",
        "_dead_letter_queue_messages_ttl": 3600,
    }
    assert api.put("/v2/queues/dl", json=rules).status_code == 201
    api.post_messages("dl", BIG, ttl=120)
    assert api.post("/v2/queues/dl/claims", json={"ttl": 60, "grace": 60}).status_code == 201
    site.clock.advance(61)
    assert api.post("/v2/queues/dl/claims", json=CLAIM).status_code == 204  # dead-lettered
    site.clock.advance(300)  # past the first TTL, its claim's extension and blob_grace
    site.gc()
    dead = api.get("/v2/queues/dead/messages", params={"echo": "true"}).json["messages"]
    assert [m["body"] for m in dead] == [BIG]
