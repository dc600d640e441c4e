"""``/v2/pools`` on the admin app: shapes and status codes (api-v2.md 1.9)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine
from tests.admin.conftest import DOWN, Site
from tests.transport.conftest import Api

pytestmark = pytest.mark.sqlite


def test_put_registers_and_migrates_an_empty_database(site: Site, admin: Api) -> None:
    uri = site.sqlite_url("p1")
    result = admin.put("/v2/pools/p1", json={"uri": uri, "weight": 10})
    assert result.status_code == 201
    assert result.headers["location"] == "/v2/pools/p1"
    engine = make_engine(uri)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
    found = admin.get("/v2/pools/p1")
    assert found.status_code == 200
    assert found.json == {
        "href": "/v2/pools/p1",
        "name": "p1",
        "uri": uri,
        "weight": 10,
        "flavor": None,
    }
    detailed = admin.get("/v2/pools/p1", params={"detailed": "true"}).json
    assert detailed["options"] == {}


def test_put_again_overwrites(site: Site, admin: Api) -> None:
    site.put_pool("p1", site.sqlite_url("p1"), 10)
    body = {"uri": site.sqlite_url("p1b"), "weight": 3, "options": {"fifo": False}}
    assert admin.put("/v2/pools/p1", json=body).status_code == 201
    found = admin.get("/v2/pools/p1?detailed=true").json
    assert (found["uri"], found["weight"], found["options"]) == (body["uri"], 3, {"fifo": False})


def test_duplicate_uri_is_a_conflict(site: Site, admin: Api) -> None:
    site.put_pool("p1", site.sqlite_url("shared"))
    result = admin.put("/v2/pools/p2", json={"uri": site.sqlite_url("shared"), "weight": 1})
    assert result.status_code == 409
    assert admin.get("/v2/pools/p2").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"weight": 1},
        {"uri": "sqlite:////tmp/x.db"},
        {"uri": "sqlite:////tmp/x.db", "weight": -1},
        {"uri": "sqlite:////tmp/x.db", "weight": 2**32},
        {"uri": "sqlite:////tmp/x.db", "weight": "1"},
        {"uri": "sqlite:////tmp/x.db", "weight": True},
        {"uri": "sqlite:////tmp/" + "x" * 250 + ".db", "weight": 1},
        {"uri": 5, "weight": 1},
        {"uri": "sqlite:////tmp/x.db", "weight": 1, "group": "g"},
        {"uri": "sqlite:////tmp/x.db", "weight": 1, "options": []},
        {"uri": "sqlite:////tmp/x.db", "weight": 1, "flavor": 3},
    ],
)
def test_put_rejects_bad_bodies(admin: Api, body: dict[str, Any]) -> None:
    result = admin.put("/v2/pools/p1", json=body)
    assert result.status_code == 400, body
    assert admin.get("/v2/pools/p1").status_code == 404


@pytest.mark.parametrize(
    ("uri", "options", "says"),
    [
        ("mongodb://localhost:27017", {}, "sqlqueue does not run on 'mongodb' databases"),
        ("not a uri", {}, "Bad pool URI: 'not a uri' is not a database URL"),
        ("postgres://postgres@127.0.0.1/x", {}, "write postgresql://postgres@127.0.0.1/x"),
        ("sqlite://", {}, "in-memory"),
        ("sqlite:///", {}, "in-memory SQLite database, which every connection sees empty: give"),
        ("sqlite:///:memory:", {}, "give a pool a file path, e.g. sqlite:////var/lib/sqlqueue/"),
        ("{tmp}", {"fifo": "no"}, "fifo"),
        ("{tmp}", {"shards": 2}, "Unknown pool option"),
        (DOWN, {}, "cannot reach the PostgreSQL server at 127.0.0.1:1 (connection refused)"),
    ],
)
def test_put_rejects_bad_pools(
    site: Site, admin: Api, uri: str, options: dict[str, Any], says: str
) -> None:
    uri = uri.replace("{tmp}", site.sqlite_url("fine"))
    result = admin.put("/v2/pools/p1", json={"uri": uri, "weight": 1, "options": options})
    assert result.status_code == 400
    assert says in result.json["description"]


def test_put_rejects_bad_names(site: Site, admin: Api) -> None:
    result = admin.put("/v2/pools/bad name", json={"uri": site.sqlite_url("x"), "weight": 1})
    assert result.status_code == 400
    assert "names are 1 to 64" in result.json["description"]


def test_put_refuses_a_database_at_another_revision(site: Site, admin: Api) -> None:
    uri = site.sqlite_url("old")
    engine = make_engine(uri)
    migrate.upgrade(engine, "0001")
    result = admin.put("/v2/pools/old", json={"uri": uri, "weight": 1})
    assert result.status_code == 400
    assert "0001" in result.json["description"]
    assert "sqlqueue db upgrade" in result.json["description"]
    assert migrate.current_revision(engine) == "0001"  # left alone
    engine.dispose()


def test_put_refuses_a_foreign_database(site: Site, admin: Api) -> None:
    uri = site.sqlite_url("foreign")
    engine = make_engine(uri)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    result = admin.put("/v2/pools/foreign", json={"uri": uri, "weight": 1})
    assert result.status_code == 400
    assert "not empty" in result.json["description"]


def test_patch(site: Site, admin: Api) -> None:
    site.put_pool("p1", site.sqlite_url("p1"), 10)
    result = admin.patch("/v2/pools/p1", json={"weight": 20, "flavor": "gold"})
    assert result.status_code == 200
    assert result.json == {
        "href": "/v2/pools/p1",
        "name": "p1",
        "uri": site.sqlite_url("p1"),
        "weight": 20,
        "flavor": "gold",
    }
    moved = admin.patch("/v2/pools/p1", json={"uri": site.sqlite_url("p1-new")})
    assert moved.status_code == 200
    assert moved.json["uri"] == site.sqlite_url("p1-new")


@pytest.mark.parametrize(
    "body", [{}, {"name": "x"}, {"weight": -5}, {"options": {"nope": 1}}, {"uri": DOWN}]
)
def test_patch_rejects(site: Site, admin: Api, body: dict[str, Any]) -> None:
    site.put_pool("p1", site.sqlite_url("p1"), 10)
    assert admin.patch("/v2/pools/p1", json=body).status_code == 400, body
    assert admin.get("/v2/pools/p1").json["weight"] == 10


def test_patch_unknown_pool(admin: Api) -> None:
    assert admin.patch("/v2/pools/nope", json={"weight": 1}).status_code == 404


def test_get_unknown_pool(admin: Api) -> None:
    result = admin.get("/v2/pools/nope")
    assert result.status_code == 404
    assert set(result.json) == {"title", "description"}


def test_delete(site: Site, admin: Api) -> None:
    site.put_pool("p1", site.sqlite_url("p1"))
    assert admin.delete("/v2/pools/p1").status_code == 204
    assert admin.get("/v2/pools/p1").status_code == 404
    assert admin.delete("/v2/pools/p1").status_code == 204


def test_delete_refused_while_the_pool_holds_queues(site: Site, admin: Api) -> None:
    site.put_pool("p1", site.sqlite_url("p1"))
    admin.post_messages("jobs", {"n": 1})
    result = admin.delete("/v2/pools/p1")
    assert result.status_code == 403
    assert "still holds queues" in result.json["description"]
    assert admin.delete("/v2/queues/jobs").status_code == 204
    assert admin.delete("/v2/pools/p1").status_code == 204


def test_listing_pages(site: Site, admin: Api) -> None:
    for i in range(5):
        site.put_pool(f"p{i}", site.sqlite_url(f"p{i}"), i)
    first = admin.get("/v2/pools", params={"limit": 2})
    assert first.status_code == 200
    assert [p["name"] for p in first.json["pools"]] == ["p0", "p1"]
    assert set(first.json["pools"][0]) == {"href", "name", "uri", "weight", "flavor"}
    (link,) = first.json["links"]
    assert link["rel"] == "next"
    names = []
    href = "/v2/pools?limit=2&detailed=true"
    while True:
        page = admin.get(href.split("?")[0], query_string=href.split("?")[1]).json
        if not page["pools"]:
            assert page["links"] == []
            break
        assert all(p["options"] == {} for p in page["pools"])
        names += [p["name"] for p in page["pools"]]
        href = page["links"][0]["href"]
    assert names == [f"p{i}" for i in range(5)]


@pytest.mark.parametrize("query", ["limit=0", "limit=21", "limit=x", "detailed=maybe"])
def test_listing_rejects_bad_parameters(admin: Api, query: str) -> None:
    assert admin.get("/v2/pools", query_string=query).status_code == 400


def test_empty_listing(admin: Api) -> None:
    assert admin.get("/v2/pools").json == {"pools": [], "links": []}
