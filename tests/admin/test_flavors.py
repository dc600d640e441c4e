"""``/v2/flavors`` on the admin app, capabilities, and non-FIFO pools."""

from __future__ import annotations

from typing import Any

import pytest

from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.admin.conftest import Site
from tests.transport.conftest import Api

pytestmark = pytest.mark.sqlite

SQLITE_CAPS = ["FIFO", "CLAIMS", "DURABILITY", "AOD"]


@pytest.fixture
def pools(site: Site) -> Site:
    """Pools a, b (FIFO) and fast (non-FIFO), all SQLite files."""
    site.put_pool("a", site.sqlite_url("a"))
    site.put_pool("b", site.sqlite_url("b"))
    site.put_pool("fast", site.sqlite_url("fast"), options={"fifo": False})
    return site


def test_put_and_get(pools: Site, admin: Api) -> None:
    result = admin.put("/v2/flavors/gold", json={"pool_list": ["a", "b"]})
    assert result.status_code == 201
    assert result.headers["location"] == "/v2/flavors/gold"
    found = admin.get("/v2/flavors/gold")
    assert found.status_code == 200
    assert found.json == {
        "name": "gold",
        "href": "/v2/flavors/gold",
        "capabilities": SQLITE_CAPS,
        "pool_list": ["a", "b"],
    }
    assert admin.get("/v2/pools/a").json["flavor"] == "gold"
    assert admin.get("/v2/pools/fast").json["flavor"] is None


def test_non_fifo_pools_make_a_non_fifo_flavor(pools: Site, admin: Api) -> None:
    assert admin.put("/v2/flavors/quick", json={"pool_list": ["fast"]}).status_code == 201
    assert admin.get("/v2/flavors/quick").json["capabilities"] == ["CLAIMS", "DURABILITY", "AOD"]
    assert admin.put("/v2/queues/burst", json={"_flavor": "quick"}).status_code == 201
    driver = pools.storages[0].store.router.driver("fast")
    assert isinstance(driver, SqlDataDriver)
    assert driver.options.fifo is False
    assert pools.storages[0].store.router.driver("a").options.fifo is True  # type: ignore[attr-defined]
    admin.post_messages("burst", 1, 2, 3)
    listed = admin.get("/v2/queues/burst/messages", params={"echo": "true"}).json
    assert sorted(m["body"] for m in listed["messages"]) == [1, 2, 3]


def test_pools_of_a_flavor_must_offer_the_same_capabilities(pools: Site, admin: Api) -> None:
    result = admin.put("/v2/flavors/mixed", json={"pool_list": ["a", "fast"]})
    assert result.status_code == 400
    assert "same capabilities" in result.json["description"]
    assert admin.get("/v2/flavors/mixed").status_code == 404
    assert admin.get("/v2/pools/a").json["flavor"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"pool_list": []},
        {"pool_list": "a"},
        {"pool_list": ["a", "a"]},
        {"pool_list": ["nope"]},
        {"pool_list": ["a"], "pool_group": "g"},
        {"pool_list": ["a"], "capabilities": []},
    ],
)
def test_put_rejects(pools: Site, admin: Api, body: dict[str, Any]) -> None:
    assert admin.put("/v2/flavors/gold", json=body).status_code == 400, body
    assert admin.get("/v2/flavors/gold").status_code == 404


def test_unknown_pool_is_named(pools: Site, admin: Api) -> None:
    result = admin.put("/v2/flavors/gold", json={"pool_list": ["a", "nope"]})
    assert result.status_code == 400
    assert "Pool nope does not exist" in result.json["description"]


def test_patch_changes_the_pool_list(pools: Site, admin: Api) -> None:
    admin.put("/v2/flavors/gold", json={"pool_list": ["a"]})
    result = admin.patch("/v2/flavors/gold", json={"pool_list": ["b"]})
    assert result.status_code == 200
    assert result.json["pool_list"] == ["b"]
    assert result.json["href"] == "/v2/flavors/gold"
    assert admin.get("/v2/pools/a").json["flavor"] is None
    assert admin.get("/v2/pools/b").json["flavor"] == "gold"
    assert admin.patch("/v2/flavors/gold", json={"pool_list": []}).status_code == 400
    assert admin.patch("/v2/flavors/gold", json={}).status_code == 400
    assert admin.patch("/v2/flavors/nope", json={"pool_list": ["a"]}).status_code == 404


def test_delete_clears_the_pools(pools: Site, admin: Api) -> None:
    admin.put("/v2/flavors/gold", json={"pool_list": ["a", "b"]})
    assert admin.delete("/v2/flavors/gold").status_code == 204
    assert admin.get("/v2/flavors/gold").status_code == 404
    assert admin.get("/v2/pools/a").json["flavor"] is None
    assert admin.delete("/v2/flavors/gold").status_code == 204


def test_listing(pools: Site, admin: Api) -> None:
    admin.put("/v2/flavors/gold", json={"pool_list": ["a", "b"]})
    admin.put("/v2/flavors/quick", json={"pool_list": ["fast"]})
    plain = admin.get("/v2/flavors").json
    assert plain["flavors"] == [
        {"href": "/v2/flavors/gold", "name": "gold", "pool_list": ["a", "b"]},
        {"href": "/v2/flavors/quick", "name": "quick", "pool_list": ["fast"]},
    ]
    first = admin.get("/v2/flavors", params={"limit": 1, "detailed": "true"}).json
    assert [f["capabilities"] for f in first["flavors"]] == [SQLITE_CAPS]
    href = first["links"][0]["href"]
    path, query = href.split("?")
    second = admin.get(path, query_string=query).json
    assert [f["name"] for f in second["flavors"]] == ["quick"]
    assert "capabilities" in second["flavors"][0]
    assert admin.get("/v2/flavors", params={"limit": 21}).status_code == 400


def test_flavors_are_per_project(pools: Site, admin: Api) -> None:
    admin.put("/v2/flavors/gold", json={"pool_list": ["a"]})
    other = admin.as_project("other")
    assert other.get("/v2/flavors/gold").status_code == 404
    assert other.get("/v2/flavors").json == {"flavors": [], "links": []}
    result = other.put("/v2/queues/q", json={"_flavor": "gold"})
    assert result.status_code == 400


def test_unknown_flavor_on_queue_create_is_400(pools: Site) -> None:
    for api in (pools.admin, pools.public):
        result = api.put("/v2/queues/q", json={"_flavor": "silver"})
        assert result.status_code == 400
        assert "silver" in result.json["description"]
        assert api.get("/v2/queues").json["queues"] == []


def test_the_last_pool_of_a_flavor_stays(pools: Site, admin: Api) -> None:
    admin.put("/v2/flavors/gold", json={"pool_list": ["a"]})
    result = admin.delete("/v2/pools/a")
    assert result.status_code == 403
    assert "last pool of flavor gold" in result.json["description"]
    mismatch = admin.patch("/v2/pools/fast", json={"flavor": "gold"})
    assert mismatch.status_code == 400
    assert "capabilities different" in mismatch.json["description"]
    assert admin.patch("/v2/pools/b", json={"flavor": "gold"}).status_code == 200
    assert admin.delete("/v2/pools/a").status_code == 204
    assert admin.get("/v2/flavors/gold").json["pool_list"] == ["b"]
