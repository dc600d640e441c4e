"""A queue whose big bodies are in the blob store moves between pools and keeps them.

Blob keys do not depend on the pool: the pointers copied with the rows still
resolve in the new pool, for reads, claims and deletes (which delete the blob).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import blobs, messages
from tests.admin.conftest import Site, build_site, message_counts

pytestmark = pytest.mark.sqlite

BIG = {"blob": "y" * 4000}
CLAIM = {"ttl": 300, "grace": 60}


@pytest.fixture(params=["file", "database"])
def site(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Site]:
    where = f"file://{tmp_path}/blobs" if request.param == "file" else f"sqlite:///{tmp_path}/b.db"
    made = build_site(tmp_path, clock, blob_store=where)
    yield made
    for storage in made.storages:
        storage.close()


def _post(site: Site, *bodies: Any) -> list[str]:
    batch = [{"body": body, "ttl": 600} for body in bodies]
    posted = site.public.post("/v2/queues/jobs/messages", json={"messages": batch})
    assert posted.status_code == 201, posted.text
    return [href.rsplit("/", 1)[-1] for href in posted.json["resources"]]


def _blob_count(site: Site) -> int:
    where = site.settings.blob_store
    if where.startswith("file://"):
        return sum(1 for p in Path(where[len("file://") :]).rglob("*") if p.is_file())
    engine = make_engine(where)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(blobs)).scalar_one())
    finally:
        engine.dispose()


def _pointers(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).where(messages.c.body.like("&blob:%"))
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_a_moved_queue_reads_claims_and_deletes_its_blob_bodies(site: Site) -> None:
    site.put_pool("one", site.sqlite_url("one"))
    assert site.public.put("/v2/queues/jobs", json={"_blob_threshold": 1024}).status_code == 201
    site.put_pool("two", site.sqlite_url("two"))
    first, second, third, small = _post(site, BIG, BIG, BIG, "small")
    claimed = site.public.post("/v2/queues/jobs/claims?limit=1", json=CLAIM)
    claim_id = claimed.json["messages"][0]["href"].rsplit("claim_id=", 1)[-1]
    assert _pointers(site.sqlite_url("one")) == 3 and _blob_count(site) == 3

    moved = site.admin.put("/v2/catalogue/jobs", json={"pool": "two"})

    assert moved.status_code == 200, moved.text
    assert message_counts(site.sqlite_url("two")) == {"jobs": 4}
    assert _pointers(site.sqlite_url("two")) == 3 and _blob_count(site) == 3
    listed = site.public.get("/v2/queues/jobs/messages?echo=true").json["messages"]
    assert [m["body"] for m in listed] == [BIG, BIG, "small"]
    assert site.public.get(f"/v2/queues/jobs/messages/{first}").json["body"] == BIG
    held = site.public.get(f"/v2/queues/jobs/claims/{claim_id}").json["messages"]
    assert [m["body"] for m in held] == [BIG]
    gone = site.public.delete(f"/v2/queues/jobs/messages/{first}?claim_id={claim_id}")
    assert gone.status_code == 204 and _blob_count(site) == 2
    site.settle()  # the public app now routes to pool two directly
    taken = site.public.post("/v2/queues/jobs/claims?limit=5", json=CLAIM).json["messages"]
    assert [m["body"] for m in taken] == [BIG, BIG, "small"]
    ids = ",".join([second, third, small])
    assert site.public.delete(f"/v2/queues/jobs/messages?ids={ids}").status_code == 204
    assert _blob_count(site) == 0 and message_counts(site.sqlite_url("two")) == {}


def test_blob_dead_letters_cross_pools_with_their_bodies(site: Site) -> None:
    site.put_pool("one", site.sqlite_url("one"))
    rules = {"_blob_threshold": 1024, "_max_claim_count": 1, "_dead_letter_queue": "dlq"}
    assert site.public.put("/v2/queues/jobs", json=rules).status_code == 201
    site.put_pool("two", site.sqlite_url("two"))
    _post(site, BIG, "small")
    first = site.public.post("/v2/queues/jobs/claims", json=CLAIM)
    claim_id = first.json["messages"][0]["href"].rsplit("claim_id=", 1)[-1]
    assert site.public.delete(f"/v2/queues/jobs/claims/{claim_id}").status_code == 204
    assert site.admin.put("/v2/catalogue/jobs", json={"pool": "two"}).status_code == 200

    again = site.public.post("/v2/queues/jobs/claims", json=CLAIM)

    assert again.status_code == 204, again.text  # both went to dlq, in pool one
    listed = site.public.get("/v2/queues/dlq/messages?echo=true").json["messages"]
    assert [m["body"] for m in listed] == [BIG, "small"]
    assert message_counts(site.sqlite_url("one")) == {"dlq": 2}
    assert _blob_count(site) == 0  # dlq has no threshold: its copy is inline, the blob went
