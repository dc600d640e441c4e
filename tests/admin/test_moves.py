"""Moving a queue between pools through the admin API, seen through the public API.

Pools are SQLite files; the public app's storage keeps its cached placement
(the manual clock does not move), so every public call after a move first
meets the tombstone in the old pool and follows it: the path a worker with
a stale cache takes for ``catalogue_cache_seconds``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from sqlqueue import cli
from sqlqueue.bootstrap import create_storage
from sqlqueue.storage.pooling.tombstones import keep_seconds
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import deliveries, queues
from tests.admin.conftest import CACHE, Site, message_counts

pytestmark = pytest.mark.sqlite

CLAIM = {"ttl": 300, "grace": 60}
PATCH = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}


def _post(site: Site, queue: str, *bodies: Any) -> list[str]:
    messages = [{"body": body, "ttl": 600} for body in bodies]
    posted = site.public.post(f"/v2/queues/{queue}/messages", json={"messages": messages})
    assert posted.status_code == 201, posted.text
    return [href.rsplit("/", 1)[-1] for href in posted.json["resources"]]


def _placed_on_one(site: Site, queue: str = "jobs") -> None:
    """Queue ``queue`` placed on pool ``one``, pool ``two`` registered after."""
    site.put_pool("one", site.sqlite_url("one"))
    assert site.public.put(f"/v2/queues/{queue}").status_code == 201
    site.put_pool("two", site.sqlite_url("two"))


def test_a_moved_queue_keeps_its_messages_claims_and_subscriptions(site: Site) -> None:
    _placed_on_one(site)
    ids = _post(site, "jobs", "a", "b", "c")
    claimed = site.public.post("/v2/queues/jobs/claims?limit=2", json=CLAIM)
    claim_id = claimed.json["messages"][0]["href"].rsplit("claim_id=", 1)[-1]
    hook = {"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600}
    assert site.public.post("/v2/queues/jobs/subscriptions", json=hook).status_code == 201

    moved = site.admin.put("/v2/catalogue/jobs", json={"pool": "two"})

    assert moved.status_code == 200, moved.text
    assert moved.json["pool"] == "two" and moved.json["source"] == "one"
    assert moved.json["messages"] == 3 and moved.json["pause_ms"] >= 0
    assert site.admin.get("/v2/catalogue/jobs").json["pool"] == "two"
    assert message_counts(site.sqlite_url("one")) == {}
    assert message_counts(site.sqlite_url("two")) == {"jobs": 3}
    # The public app still routes to pool one (cached) and follows the tombstone.
    held = site.public.get(f"/v2/queues/jobs/claims/{claim_id}")
    assert held.status_code == 200
    assert [m["body"] for m in held.json["messages"]] == ["a", "b"]
    gone = site.public.delete(f"/v2/queues/jobs/messages/{ids[0]}?claim_id={claim_id}")
    assert gone.status_code == 204
    assert site.public.delete(f"/v2/queues/jobs/claims/{claim_id}").status_code == 204
    later = _post(site, "jobs", "d")
    assert int(later[0]) > int(ids[-1])
    listed = site.public.get("/v2/queues/jobs/messages?echo=true")
    assert [m["body"] for m in listed.json["messages"]] == ["b", "c", "d"]
    assert [m["id"] for m in listed.json["messages"]] == [*ids[1:], *later]
    subscribed = site.public.get("/v2/queues/jobs/subscriptions").json["subscriptions"]
    assert [s["subscriber"] for s in subscribed] == [hook["subscriber"]]
    assert site.public.get("/v2/queues/jobs/stats").json["messages"]["total"] == 3
    assert message_counts(site.sqlite_url("two")) == {"jobs": 3}


def test_the_tombstone_is_not_listed_and_deleting_follows_it(site: Site) -> None:
    _placed_on_one(site)
    _post(site, "jobs", "a")
    assert site.admin.put("/v2/catalogue/jobs", json={"pool": "two"}).status_code == 200

    names = [q["name"] for q in site.public.get("/v2/queues").json["queues"]]
    assert names == ["jobs"]
    assert site.public.delete("/v2/queues/jobs").status_code == 204
    assert message_counts(site.sqlite_url("two")) == {}
    assert site.public.get("/v2/queues").json["queues"] == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"pool": 7}, 400),
        ({"pool": "two", "more": 1}, 400),
        ({"pool": "nowhere"}, 404),
        ({"pool": "one"}, 409),
    ],
)
def test_a_bad_move_is_refused_and_changes_nothing(
    site: Site, body: dict[str, Any], status: int
) -> None:
    _placed_on_one(site)
    _post(site, "jobs", "a")

    refused = site.admin.put("/v2/catalogue/jobs", json=body)

    assert refused.status_code == status, refused.text
    assert set(refused.json) == {"title", "description"}
    assert message_counts(site.sqlite_url("one")) == {"jobs": 1}


def test_a_queue_on_no_pool_or_a_taken_name_is_refused(site: Site) -> None:
    assert site.public.put("/v2/queues/early").status_code == 201  # before any pool
    _placed_on_one(site)
    site.put_pool("three", site.sqlite_url("three"), weight=0)

    unpooled = site.admin.put("/v2/catalogue/early", json={"pool": "two"})
    assert unpooled.status_code == 409
    assert "on no pool" in unpooled.json["description"]
    # A queue "jobs" of the same project already in pool two (written there directly).
    site.storages[0].store.router.driver("two").queues.create(site.public.project, "jobs")
    taken = site.admin.put("/v2/catalogue/jobs", json={"pool": "two"})
    assert taken.status_code == 409
    assert taken.json["description"] == "Pool two already has a queue jobs"


def test_pool_drain_moves_every_queue_off_with_progress(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    _placed_on_one(site, "a")
    for name in ("b", "c"):
        assert site.public.put(f"/v2/queues/{name}").status_code == 201
    placed = [e["pool"] for e in site.admin.get("/v2/catalogue").json["catalogue"]]
    _post(site, "a", 1, 2)
    catalogue = site.settings.database_url

    status = cli.main(["pool", "drain", "one", "--database-url", catalogue])

    out = capsys.readouterr().out.splitlines()
    on_one = placed.count("one")
    assert status == 0
    assert len(out) == on_one + 1
    assert out[0].startswith(f"[1/{on_one}] moved ")
    assert out[-1].startswith(f"pool one drained: {on_one} queues moved")
    entries = site.admin.get("/v2/catalogue").json["catalogue"]
    assert {e["pool"] for e in entries} == {"two"}
    assert site.admin.get("/v2/pools/one").json["weight"] == 0
    assert message_counts(site.sqlite_url("two")) == {"a": 2}
    assert cli.main(["pool", "remove", "one", "--database-url", catalogue]) == 0


def test_queue_move_command_mistakes_are_one_line(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    _placed_on_one(site)
    catalogue = site.settings.database_url

    assert cli.main(["queue", "move", "demo", "--database-url", catalogue]) == 2
    assert cli.main(["queue", "move", "p", "nope", "--to", "two", "--database-url", catalogue]) == 2

    err = capsys.readouterr().err.splitlines()
    assert err[0] == "sqlqueue: give PROJECT QUEUE --to POOL, or --resume"
    assert err[1] == "sqlqueue: Queue nope does not exist."
    assert len(err) == 2


def test_pools_issue_disjoint_ids_so_busy_pools_trade_queues(site: Site) -> None:
    site.put_pool("one", site.sqlite_url("one"))
    assert site.public.put("/v2/queues/jobs").status_code == 201
    site.put_pool("two", site.sqlite_url("two"), weight=1000)
    site.settle()
    assert site.public.put("/v2/queues/other").status_code == 201
    jobs, other = _post(site, "jobs", 1, 2), _post(site, "other", 3, 4)
    assert site.admin.get("/v2/catalogue/other").json["pool"] == "two"

    there = site.admin.put("/v2/catalogue/jobs", json={"pool": "two"})
    site.settle()
    back = site.admin.put("/v2/catalogue/other", json={"pool": "one"})

    assert (there.status_code, back.status_code) == (200, 200), back.text
    assert not set(jobs) & set(other)
    assert message_counts(site.sqlite_url("two")) == {"jobs": 2}
    assert message_counts(site.sqlite_url("one")) == {"other": 2}
    later = _post(site, "jobs", 5) + _post(site, "other", 6)
    assert len(set(jobs + other + later)) == 6
    listed = site.public.get("/v2/queues/jobs/messages?echo=true").json["messages"]
    assert [m["id"] for m in listed] == [*jobs, later[0]]


DEAD_LETTERING = {"_dead_letter_queue": "dlq", "_max_claim_count": 1}


def _claim_and_release(site: Site, queue: str = "jobs") -> None:
    """One claim of the queue's messages, released: each was claimed once."""
    first = site.public.post(f"/v2/queues/{queue}/claims", json=CLAIM)
    claim_id = first.json["messages"][0]["href"].rsplit("claim_id=", 1)[-1]
    assert site.public.delete(f"/v2/queues/{queue}/claims/{claim_id}").status_code == 204


def _dead_letters(site: Site) -> list[Any]:
    listed = site.public.get("/v2/queues/dlq/messages?echo=true")
    return [m["body"] for m in listed.json["messages"]]


@pytest.mark.parametrize("moved", ["dlq", "jobs"])
def test_dead_letters_reach_their_queue_after_either_queue_moved(site: Site, moved: str) -> None:
    site.put_pool("one", site.sqlite_url("one"))
    assert site.public.put("/v2/queues/jobs", json=DEAD_LETTERING).status_code == 201
    site.put_pool("two", site.sqlite_url("two"))
    _post(site, "jobs", "a", "b")
    _claim_and_release(site)
    assert site.admin.put(f"/v2/catalogue/{moved}", json={"pool": "two"}).status_code == 200

    again = site.public.post("/v2/queues/jobs/claims", json=CLAIM)

    assert again.status_code == 204, again.text  # both were claimed too often
    assert _dead_letters(site) == ["a", "b"]
    assert site.public.get("/v2/queues/jobs/stats").json["messages"]["total"] == 0
    home = {"dlq": "two", "jobs": "one"}[moved]
    assert message_counts(site.sqlite_url(home)) == {"dlq": 2}
    away = "one" if home == "two" else "two"
    assert message_counts(site.sqlite_url(away)) == {}  # no hidden queue of that name
    site.settle()  # the same through fresh placements (no tombstone to follow)
    _post(site, "jobs", "c")
    _claim_and_release(site)
    assert site.public.post("/v2/queues/jobs/claims", json=CLAIM).status_code == 204
    assert _dead_letters(site) == ["a", "b", "c"]


def test_a_dead_letter_queue_placed_on_another_pool_first_is_used_there(site: Site) -> None:
    site.put_pool("one", site.sqlite_url("one"))
    assert site.public.put("/v2/queues/dlq").status_code == 201
    site.put_pool("two", site.sqlite_url("two"))
    assert site.admin.patch("/v2/pools/one", json={"weight": 0}).status_code == 200
    site.settle()

    created = site.public.put("/v2/queues/jobs", json=DEAD_LETTERING)

    assert created.status_code == 201, created.text
    assert site.admin.get("/v2/catalogue/jobs").json["pool"] == "two"
    assert site.admin.get("/v2/catalogue/dlq").json["pool"] == "one"
    _post(site, "jobs", "a")
    _claim_and_release(site)
    assert site.public.post("/v2/queues/jobs/claims", json=CLAIM).status_code == 204
    assert _dead_letters(site) == ["a"]
    assert message_counts(site.sqlite_url("one")) == {"dlq": 1}
    assert message_counts(site.sqlite_url("two")) == {}


@pytest.mark.parametrize("when", ["staged", "caught_up"])
def test_changes_after_the_precopy_are_carried_by_the_switch(site: Site, when: str) -> None:
    _placed_on_one(site)
    ids = _post(site, "jobs", *range(6))
    seen: dict[str, str] = {}

    def meanwhile(step: str) -> None:
        """Claim, delete and post after the pre-copy (carried by the catch-up)
        or after the catch-up (carried by the locked switch)."""
        if step != when:
            return
        claimed = site.public.post("/v2/queues/jobs/claims?limit=2", json=CLAIM)
        seen["claim"] = claimed.json["messages"][0]["href"].rsplit("claim_id=", 1)[-1]
        assert site.public.delete(f"/v2/queues/jobs/messages/{ids[2]}").status_code == 204
        seen["late"] = _post(site, "jobs", "late")[0]

    mover = create_storage(site.settings, clock=site.clock, move_hook=meanwhile)
    try:
        moved = mover.admin.moves.move(site.public.project, "jobs", "two")
    finally:
        mover.close()

    assert moved.messages == 6
    assert message_counts(site.sqlite_url("one")) == {}
    assert message_counts(site.sqlite_url("two")) == {"jobs": 6}
    held = site.public.get(f"/v2/queues/jobs/claims/{seen['claim']}").json["messages"]
    assert [m["id"] for m in held] == ids[:2]
    free = site.public.get("/v2/queues/jobs/messages?echo=true").json["messages"]
    assert [m["id"] for m in free] == [*ids[3:], seen["late"]]
    assert site.public.get("/v2/queues/jobs/stats").json["messages"]["total"] == 6


def pending_notifications(url: str) -> int:
    """Raw count of undelivered notification rows in the database at ``url``."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stmt = sa.select(sa.func.count()).where(deliveries.c.state == 0)
            return int(conn.execute(stmt).scalar_one())
    finally:
        engine.dispose()


def test_pending_notifications_move_with_the_queue(site: Site) -> None:
    _placed_on_one(site)
    hook = {"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600}
    assert site.public.post("/v2/queues/jobs/subscriptions", json=hook).status_code == 201
    _post(site, "jobs", "a", "b")
    assert pending_notifications(site.sqlite_url("one")) == 2

    assert site.admin.put("/v2/catalogue/jobs", json={"pool": "two"}).status_code == 200

    assert pending_notifications(site.sqlite_url("one")) == 0
    assert pending_notifications(site.sqlite_url("two")) == 2


def test_a_new_flavor_takes_the_queue_to_a_pool_of_that_flavor(site: Site) -> None:
    _placed_on_one(site)
    ids = _post(site, "jobs", "a", "b")
    assert site.admin.put("/v2/flavors/gold", json={"pool_list": ["two"]}).status_code == 201
    patch = [{"op": "add", "path": "/metadata/_flavor", "value": "gold"}]
    changed = site.public.patch("/v2/queues/jobs", body=json.dumps(patch), headers=PATCH)
    assert changed.status_code == 200, changed.text
    assert changed.json["_flavor"] == "gold"
    assert site.admin.get("/v2/catalogue/jobs").json["pool"] == "two"
    assert message_counts(site.sqlite_url("two")) == {"jobs": 2}
    listed = site.public.get("/v2/queues/jobs/messages?echo=true").json["messages"]
    assert [m["id"] for m in listed] == ids
    patch = [{"op": "replace", "path": "/metadata/_flavor", "value": "gold"}]
    again = site.public.patch("/v2/queues/jobs", body=json.dumps(patch), headers=PATCH)
    assert again.status_code == 200  # already in a pool of the flavor: stays
    assert site.admin.get("/v2/catalogue/jobs").json["pool"] == "two"


def tombstones(url: str) -> dict[str, str]:
    """Raw tombstones in the database at ``url``: queue name -> the pool it names."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stmt = sa.select(queues.c.name, queues.c.moved_to).where(queues.c.moved_to.is_not(None))
            return {name: pool for name, pool in conn.execute(stmt)}
    finally:
        engine.dispose()


def test_a_tombstone_goes_once_no_cached_placement_can_reach_it(site: Site) -> None:
    _placed_on_one(site)
    _post(site, "jobs", "a")
    assert site.admin.put("/v2/catalogue/jobs", json={"pool": "two"}).status_code == 200
    gc = site.storages[1].store.gc
    keep = keep_seconds(CACHE)

    gc()
    site.clock.advance(keep - 1)
    gc()
    assert tombstones(site.sqlite_url("one")) == {"jobs": "two"}
    site.clock.advance(2)
    gc()

    assert tombstones(site.sqlite_url("one")) == {}
    listed = site.public.get("/v2/queues/jobs/messages?echo=true").json["messages"]
    assert [m["body"] for m in listed] == ["a"]
    _post(site, "jobs", "b")
    assert message_counts(site.sqlite_url("two")) == {"jobs": 2}
    assert message_counts(site.sqlite_url("one")) == {}


def test_the_tombstone_of_a_move_awaiting_resume_is_kept(site: Site) -> None:
    _placed_on_one(site)
    _post(site, "jobs", "a")

    def killed(step: str) -> None:
        if step == "source_committed":
            raise KeyboardInterrupt  # the mover stops before pointing the catalogue

    mover = create_storage(site.settings, clock=site.clock, move_hook=killed)
    try:
        with pytest.raises(KeyboardInterrupt):
            mover.admin.moves.move(site.public.project, "jobs", "two")
        site.clock.advance(2 * keep_seconds(CACHE))  # messages live 600 s
        site.storages[1].store.gc()
        assert tombstones(site.sqlite_url("one")) == {"jobs": "two"}
        listed = site.public.get("/v2/queues/jobs/messages?echo=true").json["messages"]
        assert [m["body"] for m in listed] == ["a"]  # the catalogue names one: followed

        assert [r.outcome for r in mover.admin.moves.resume()] == ["completed"]
    finally:
        mover.close()
    site.storages[1].store.gc()
    assert tombstones(site.sqlite_url("one")) == {"jobs": "two"}  # dated from the resume
    site.clock.advance(keep_seconds(CACHE) + 1)
    site.storages[1].store.gc()
    assert tombstones(site.sqlite_url("one")) == {}


def test_a_queue_of_the_catalogue_database_dead_letters_into_a_pool(site: Site) -> None:
    assert site.public.put("/v2/queues/jobs", json=DEAD_LETTERING).status_code == 201
    site.put_pool("one", site.sqlite_url("one"))  # jobs stays in the catalogue database
    site.settle()
    assert site.public.put("/v2/queues/dlq").status_code == 201
    assert site.admin.get("/v2/catalogue/dlq").json["pool"] == "one"
    _post(site, "jobs", "a")
    _claim_and_release(site)

    assert site.public.post("/v2/queues/jobs/claims", json=CLAIM).status_code == 204

    assert _dead_letters(site) == ["a"]
    assert message_counts(site.sqlite_url("one")) == {"dlq": 1}
    assert message_counts(site.settings.database_url) == {}
