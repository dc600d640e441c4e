"""Pool management refusing what would lose queues, and saying why, as an operator sees it.

A pool holding queues keeps its uri (PUT, PATCH, ``sqlqueue pool add``); a
drain with nowhere to go changes nothing; no pool taking new queues is said
to be an operator's problem; moving or removing names what to do instead.
"""

from __future__ import annotations

from typing import Any

import pytest

from sqlqueue import cli, errors
from sqlqueue.transport.websocket import replies
from tests.admin.conftest import Site, message_counts

pytestmark = pytest.mark.sqlite

DRAIN_FIRST = "`sqlqueue pool drain one`"


def _one_pool_with_jobs(site: Site) -> None:
    site.put_pool("one", site.sqlite_url("one"), weight=5)
    site.public.post_messages("jobs", {"n": 1})
    assert site.admin.get("/v2/catalogue/jobs").json["pool"] == "one"


def _run(site: Site, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main([*args, "--database-url", site.settings.database_url])
    out, err = capsys.readouterr()
    return status, out, err


def _unchanged(site: Site, weight: int = 5) -> None:
    pool = site.admin.get("/v2/pools/one").json
    assert (pool["uri"], pool["weight"]) == (site.sqlite_url("one"), weight)
    assert message_counts(site.sqlite_url("one")) == {"jobs": 1}
    listed = site.public.get("/v2/queues/jobs/messages", params={"echo": "true"})
    assert listed.status_code == 200 and len(listed.json["messages"]) == 1


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"uri": "other", "weight": 5}), ("patch", {"uri": "other"})],
)
def test_a_pool_holding_queues_keeps_its_uri(site: Site, method: str, body: Any) -> None:
    _one_pool_with_jobs(site)
    body = {**body, "uri": site.sqlite_url("other")}

    refused = getattr(site.admin, method)("/v2/pools/one", json=body)

    assert refused.status_code == 409, refused.text
    assert refused.json["title"] == "Conflict"
    assert refused.json["description"].startswith("Pool one holds queues: its uri cannot change")
    assert DRAIN_FIRST in refused.json["description"]
    site.settle()
    _unchanged(site)


def test_an_unchanged_uri_still_updates_a_pool_holding_queues(site: Site) -> None:
    _one_pool_with_jobs(site)
    again = site.admin.put("/v2/pools/one", json={"uri": site.sqlite_url("one"), "weight": 7})
    assert again.status_code == 201
    patched = site.admin.patch("/v2/pools/one", json={"uri": site.sqlite_url("one"), "weight": 8})
    assert patched.status_code == 200 and patched.json["weight"] == 8
    _unchanged(site, weight=8)


def test_a_drained_pool_may_change_its_uri(site: Site) -> None:
    _one_pool_with_jobs(site)
    site.put_pool("two", site.sqlite_url("two"))
    assert site.admin.put("/v2/catalogue/jobs", json={"pool": "two"}).status_code == 200
    moved = site.admin.patch("/v2/pools/one", json={"uri": site.sqlite_url("other")})
    assert moved.status_code == 200 and moved.json["uri"] == site.sqlite_url("other")


def test_pool_add_of_an_existing_name(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    _one_pool_with_jobs(site)

    status, out, err = _run(site, capsys, "pool", "add", "one", site.sqlite_url("other"))
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert err.startswith("sqlqueue: Pool one already exists at another database.")
    assert "`sqlqueue pool add one URL --weight N --flavor F`" in err
    assert DRAIN_FIRST in err

    same = site.sqlite_url("one")
    status, out, err = _run(site, capsys, "pool", "add", "one", same, "--weight", "9")
    assert (status, err) == (0, "")
    assert out.startswith("pool one updated: SQLite database ") and out.endswith(", weight 9\n")
    site.settle()
    _unchanged(site, weight=9)


def test_a_refused_drain_changes_nothing(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    _one_pool_with_jobs(site)

    status, out, err = _run(site, capsys, "pool", "drain", "one")

    assert (status, out) == (2, "")
    assert err == (
        "sqlqueue: No other pool with a weight above 0 to drain one into; nothing was changed."
        " Add a pool (`sqlqueue pool add`) or give one a weight first\n"
    )
    site.settle()
    _unchanged(site)
    assert site.public.put("/v2/queues/fresh").status_code == 201


def test_no_pool_taking_new_queues_is_an_operator_problem(site: Site) -> None:
    _one_pool_with_jobs(site)
    assert site.admin.patch("/v2/pools/one", json={"weight": 0}).status_code == 200
    site.settle()

    refused = site.public.put("/v2/queues/fresh")

    assert refused.status_code == 503
    assert refused.json == {
        "title": "Service temporarily unavailable",
        "description": "No pool accepts new queues (none has a weight above 0), so queue fresh"
        " cannot be created; an operator must add a pool or give one a weight above 0.",
    }
    assert len(site.public.post_messages("jobs", {"n": 2})) == 1  # placed queues still work


def test_the_websocket_reply_says_the_same() -> None:
    reply = replies.from_exception(errors.NoPoolFound("No pool accepts new queues"), "queue_create")
    assert reply.status == 503
    assert reply.body["error"] == "No pool accepts new queues"


def test_moving_a_queue_that_does_not_exist(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    _one_pool_with_jobs(site)
    site.put_pool("two", site.sqlite_url("two"))

    missing = site.admin.put("/v2/catalogue/nosuch", json={"pool": "two"})
    assert missing.status_code == 404
    assert missing.json == {"title": "Not found", "description": "Queue nosuch does not exist."}
    status, out, err = _run(site, capsys, "queue", "move", "demo", "nosuch", "--to", "two")
    assert (status, out, err) == (2, "", "sqlqueue: Queue nosuch does not exist.\n")


def test_remove_names_the_drain(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    _one_pool_with_jobs(site)
    status, out, err = _run(site, capsys, "pool", "remove", "one")
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1 and DRAIN_FIRST in err
    removed = site.admin.delete("/v2/pools/one")
    assert removed.status_code == 403 and DRAIN_FIRST in removed.json["description"]


def test_resume_with_nothing_to_resume(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(site, capsys, "queue", "move", "--resume") == (
        0,
        "no interrupted move to resume\n",
        "",
    )
