"""Which app serves what, the admin policy, the catalogue view and health."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sqlqueue.domain.clock import ManualClock
from tests.admin.conftest import Site, build_site
from tests.transport.conftest import Api

pytestmark = pytest.mark.sqlite

ADMIN_PATHS = [
    "/v2/pools",
    "/v2/pools/p1",
    "/v2/flavors",
    "/v2/flavors/gold",
    "/v2/health",
    "/v2/catalogue",
    "/v2/catalogue/q",
]


@pytest.mark.parametrize("path", ADMIN_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_public_app_does_not_serve_admin_routes(site: Site, path: str, method: str) -> None:
    result = site.public.request(method, path, json={"uri": site.sqlite_url("x"), "weight": 1})
    assert result.status_code == 404
    assert site.admin.get("/v2/pools").json["pools"] == []


def test_home_documents(site: Site) -> None:
    public = site.public.get("/v2/").json["resources"]
    admin = site.admin.get("/v2/").json["resources"]
    assert "rel/pools" not in public and "rel/health" not in public
    assert {"rel/pools", "rel/pool", "rel/flavors", "rel/flavor", "rel/health"} <= set(admin)
    assert admin["rel/catalogue"]["href-template"] == "/v2/catalogue{?project,marker,limit}"
    openapi = site.admin.client.simulate_get("/v2/openapi.json").json
    assert "/v2/pools/{pool_name}" in openapi["paths"]


def test_admin_app_serves_the_public_routes(site: Site) -> None:
    assert site.admin.put("/v2/queues/q").status_code == 201
    site.admin.post_messages("q", "hello")
    assert site.public.get("/v2/queues/q/stats").json["messages"]["total"] == 1


def test_catalogue_view(site: Site) -> None:
    site.put_pool("p1", site.sqlite_url("p1"))
    for name in ("c", "a", "b"):
        site.admin.post_messages(name, 1)
    site.admin.as_project("other").post_messages("z", 1)
    entries = site.admin.get("/v2/catalogue").json
    assert entries["catalogue"] == [
        {"project": "other", "queue": "z", "pool": "p1"},
        {"project": "project-a", "queue": "a", "pool": "p1"},
        {"project": "project-a", "queue": "b", "pool": "p1"},
        {"project": "project-a", "queue": "c", "pool": "p1"},
    ]
    mine = site.admin.get("/v2/catalogue", params={"project": "project-a", "limit": 2}).json
    assert [e["queue"] for e in mine["catalogue"]] == ["a", "b"]
    path, query = mine["links"][0]["href"].split("?")
    rest = site.admin.get(path, query_string=query).json
    assert [e["queue"] for e in rest["catalogue"]] == ["c"]
    every = site.admin.get("/v2/catalogue", params={"limit": 3}).json
    path, query = every["links"][0]["href"].split("?")
    assert site.admin.get(path, query_string=query).json["catalogue"] == [
        {"project": "project-a", "queue": "c", "pool": "p1"}
    ]


def test_topics_are_placed_on_pools_and_shown_as_topics(site: Site) -> None:
    site.put_pool("p1", site.sqlite_url("p1"))
    site.admin.post_messages("news", 1)
    assert site.admin.put("/v2/topics/news", json={"k": 1}).status_code == 201
    posted = site.admin.post("/v2/topics/news/messages", json={"messages": [{"body": "t"}]})
    assert posted.status_code == 201
    assert site.admin.get("/v2/catalogue").json["catalogue"] == [
        {"project": "project-a", "queue": "news", "pool": "p1"},
        {"project": "project-a", "topic": "news", "pool": "p1"},
    ]
    assert site.public.get("/v2/topics/news").json["k"] == 1
    assert site.public.get("/v2/topics/news/stats").json["messages"]["total"] == 1
    assert site.public.delete("/v2/topics/news").status_code == 204
    assert site.admin.get("/v2/catalogue").json["catalogue"] == [
        {"project": "project-a", "queue": "news", "pool": "p1"},
    ]
    assert site.public.get("/v2/queues/news/stats").json["messages"]["total"] == 1


def test_catalogue_item(site: Site) -> None:
    site.admin.post_messages("before", 1)  # no pool yet: the default database
    site.put_pool("p1", site.sqlite_url("p1"))
    site.admin.post_messages("after", 1)
    found = site.admin.get("/v2/catalogue/after")
    assert found.status_code == 200
    assert found.json == {"project": "project-a", "queue": "after", "pool": "p1"}
    assert site.admin.get("/v2/catalogue/before").status_code == 404
    assert site.admin.as_project("other").get("/v2/catalogue/after").status_code == 404
    assert site.admin.get("/v2/catalogue/bad%20name").status_code == 400


def test_health_reports_every_database(site: Site) -> None:
    site.admin.post_messages("old", 1, 2)  # the default database
    site.put_pool("p1", site.sqlite_url("p1"))
    site.put_pool("p2", site.sqlite_url("p2"), weight=0)
    site.admin.post_messages("new", 1, 2, 3)
    claim = site.admin.post(
        "/v2/queues/new/claims", json={"ttl": 60, "grace": 60}, params={"limit": 2}
    )
    assert claim.status_code == 201
    result = site.admin.get("/v2/health")
    assert result.status_code == 200
    assert result.json == {
        "catalog_reachable": True,
        "storage_reachable": True,
        "message_volume": {"free": 2, "claimed": 0, "total": 2},
        "pools": {
            "p1": {
                "storage_reachable": True,
                "message_volume": {"free": 1, "claimed": 2, "total": 3},
            },
            "p2": {
                "storage_reachable": True,
                "message_volume": {"free": 0, "claimed": 0, "total": 0},
            },
        },
    }
    queues = site.admin.get("/v2/queues").json["queues"]
    assert [q["name"] for q in queues] == ["new", "old"]  # health made no test queue


def test_health_of_a_pool_that_is_down(site: Site) -> None:
    site.put_pool("p1", site.sqlite_url("p1"))
    site.storages[0].control.pools.update("p1", uri="postgresql://postgres@127.0.0.1:1/x")
    site.settle()
    report = site.admin.get("/v2/health").json
    assert report["catalog_reachable"] is True
    assert report["pools"] == {"p1": {"storage_reachable": False}}
    assert site.admin.get("/v2/ping").status_code == 204  # the catalogue still answers


def test_without_noauth_admin_callers_need_the_admin_role(tmp_path: Path) -> None:
    locked = build_site(tmp_path, ManualClock(), noauth_admin=False)
    admin = locked.admin
    body = {"uri": locked.sqlite_url("p1"), "weight": 1}
    for method, path in [
        ("PUT", "/v2/pools/p1"),
        ("GET", "/v2/pools"),
        ("GET", "/v2/health"),
        ("GET", "/v2/catalogue"),
        ("PUT", "/v2/flavors/gold"),
        ("DELETE", "/v2/flavors/gold"),
    ]:
        refused = admin.request(method, path, json=body)
        assert refused.status_code == 403, (method, path)
        assert "admin role" in refused.json["description"]
    role = {"X-Roles": "member, Admin"}
    assert admin.put("/v2/pools/p1", json=body, headers=role).status_code == 201
    assert admin.get("/v2/health", headers=role).status_code == 200
    assert admin.get("/v2/flavors").status_code == 200  # reading flavors is open
    pool_list = {"pool_list": ["p1"]}
    assert admin.put("/v2/flavors/gold", json=pool_list, headers=role).status_code == 201
    assert admin.get("/v2/flavors/gold").status_code == 200
    for storage in locked.storages:
        storage.close()


def test_noauth_admin_lets_any_caller_in(admin: Api) -> None:
    assert admin.get("/v2/pools", headers={"X-Roles": None}).status_code == 200


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("sqlqueue.transport.wsgi", ("sqlalchemy", "sqlqueue.storage.sql")),
        ("sqlqueue.control.admin", ("sqlalchemy", "sqlqueue.storage.sql", "falcon")),
    ],
)
def test_layering(module: str, forbidden: tuple[str, ...]) -> None:
    code = (
        f"import sys, {module}; "
        f"found = [m for m in sys.modules if m.startswith({forbidden!r})]; "
        "assert not found, found"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
