"""Queues spread over pools registered through the admin API, used through the public API.

Pools ``a`` and ``b`` are two PostgreSQL databases (empty until the first
test registers them, which migrates them), ``c`` a SQLite file; the
catalogue (and default pool) is a fresh SQLite file per test. The admin and
public apps have separate storages sharing the catalogue, as two processes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sqlqueue.storage.sql.engine import make_engine
from tests.admin.conftest import Site, message_counts
from tests.conftest import ServerUrls, empty_tables

pytestmark = pytest.mark.postgresql

PROJECT = "project-a"


@pytest.fixture(scope="module")
def pg_pools(server_urls: ServerUrls) -> dict[str, str]:
    """Two PostgreSQL databases for pools, and one to take down."""
    return {name: server_urls.url("postgresql", f"admin_{name}") for name in ("a", "b", "down")}


@pytest.fixture
def urls(site: Site, pg_pools: dict[str, str]) -> Iterator[dict[str, str]]:
    """Pool URLs by name; the PostgreSQL ones emptied (once they have a schema)."""
    for url in pg_pools.values():
        engine = make_engine(url)
        with engine.connect() as conn:
            migrated = sa.inspect(conn).has_table("messages")
        if migrated:
            empty_tables(engine)
        engine.dispose()
    yield {**pg_pools, "c": site.sqlite_url("c"), "catalogue": site.settings.database_url}


def placements(site: Site) -> dict[str, str]:
    """Queue -> pool for PROJECT, read through the admin catalogue view."""
    found: dict[str, str] = {}
    href = f"/v2/catalogue?project={PROJECT}&limit=20"
    while True:
        path, query = href.split("?")
        page = site.admin.get(path, query_string=query).json
        if not page["catalogue"]:
            return found
        found.update({e["queue"]: e["pool"] for e in page["catalogue"]})
        href = page["links"][0]["href"]


def walk(site: Site, limit: int) -> list[str]:
    """Every queue name, following the public listing's next links."""
    names: list[str] = []
    href = f"/v2/queues?limit={limit}"
    while True:
        path, query = href.split("?")
        page = site.public.get(path, query_string=query).json
        if not page["queues"]:
            return names
        names += [q["name"] for q in page["queues"]]
        href = page["links"][0]["href"]


def test_placement_follows_the_weights(site: Site, urls: dict[str, str]) -> None:
    weights = {"a": 1, "b": 2, "c": 1}
    for name, weight in weights.items():
        site.put_pool(name, urls[name], weight)
    for i in range(200):
        assert site.public.put(f"/v2/queues/q{i:03}").status_code == 201
    placed = Counter(placements(site).values())
    assert sum(placed.values()) == 200
    expected = {name: 200 * w / sum(weights.values()) for name, w in weights.items()}
    chi2 = sum((placed[name] - e) ** 2 / e for name, e in expected.items())
    # Chi-square, 2 degrees of freedom: a fair weighted draw exceeds 13.82
    # with probability 0.001 (the random source is seeded: deterministic).
    assert chi2 < 13.82, (placed, chi2)


def test_messages_live_only_in_their_pool(site: Site, urls: dict[str, str]) -> None:
    for name in ("a", "b", "c"):
        site.put_pool(name, urls[name])
    posted = {
        f"m{i:02}": site.public.post_messages(f"m{i:02}", *range(1 + i % 3)) for i in range(24)
    }
    where = placements(site)
    assert set(where) == set(posted)
    assert set(where.values()) == {"a", "b", "c"}
    for name in ("a", "b", "c"):
        assert message_counts(urls[name]) == {
            q: len(ids) for q, ids in posted.items() if where[q] == name
        }
    assert message_counts(urls["catalogue"]) == {}
    for queue, ids in posted.items():
        listed = site.public.get(f"/v2/queues/{queue}/messages", params={"echo": "true"}).json
        assert [m["id"] for m in listed["messages"]] == ids
    claimed = site.admin.post("/v2/queues/m05/claims", json={"ttl": 60, "grace": 60})
    assert claimed.status_code == 201
    assert site.public.get("/v2/queues/m05/stats").json["messages"]["claimed"] == 3


def test_listing_pages_over_every_pool_once(site: Site, urls: dict[str, str]) -> None:
    site.public.put("/v2/queues/legacy")  # before any pool: stays on the default database
    for name in ("a", "b", "c"):
        site.put_pool(name, urls[name])
    site.settle()
    names = [f"l{i:02}" for i in range(23)]
    for name in names:
        site.public.put(f"/v2/queues/{name}")
    assert set(placements(site).values()) == {"a", "b", "c"}
    assert walk(site, limit=7) == [*names, "legacy"]
    assert site.public.get("/v2/queues", params={"with_count": "true"}).json["count"] == 24


def test_a_flavor_restricts_placement(site: Site, urls: dict[str, str]) -> None:
    for name in ("a", "b", "c"):
        site.put_pool(name, urls[name], weight=5 if name == "c" else 1)
    result = site.admin.put("/v2/flavors/big", json={"pool_list": ["a", "b"]})
    assert result.status_code == 201
    assert site.admin.get("/v2/flavors/big").json["capabilities"] == [
        "FIFO",
        "CLAIMS",
        "DURABILITY",
        "AOD",
        "HIGH_THROUGHPUT",
    ]
    for i in range(20):
        assert site.public.put(f"/v2/queues/g{i:02}", json={"_flavor": "big"}).status_code == 201
        assert site.public.put(f"/v2/queues/n{i:02}").status_code == 201
    where = placements(site)
    assert {where[f"g{i:02}"] for i in range(20)} == {"a", "b"}
    assert {where[f"n{i:02}"] for i in range(20)} == {"c"}  # flavored pools are reserved


def test_the_first_pool_is_used_by_other_processes_at_once(
    site: Site, urls: dict[str, str]
) -> None:
    """A queue created on the default database stays there, so no cache may send it there."""
    site.public.post_messages("early", 1)  # the public process caches "no pools"
    site.put_pool("a", urls["a"])
    site.public.post_messages("next", 1)  # within the cache time, yet on the new pool
    site.settle()
    site.public.post_messages("later", 1)
    assert message_counts(urls["catalogue"]) == {"early": 1}
    assert message_counts(urls["a"]) == {"next": 1, "later": 1}


@contextmanager
def unreachable(url: str) -> Iterator[None]:
    """Refuse new connections to a PostgreSQL database and cut the open ones."""
    name = make_url(url).database
    server = sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    cut = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
    try:
        with server.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(sa.text(cut), {"name": name})
        yield
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        server.dispose()


def test_a_pool_that_goes_away(site: Site, urls: dict[str, str]) -> None:
    site.put_pool("a", urls["a"])
    site.put_pool("down", urls["down"])
    site.admin.put("/v2/flavors/doomed", json={"pool_list": ["down"]})
    site.admin.put("/v2/flavors/safe", json={"pool_list": ["a"]})
    site.public.put("/v2/queues/lost", json={"_flavor": "doomed"})
    site.public.put("/v2/queues/fine", json={"_flavor": "safe"})
    for queue in ("lost", "fine"):
        site.public.post_messages(queue, 1)
    assert placements(site) == {"lost": "down", "fine": "a"}
    with unreachable(urls["down"]):
        for path in ("/v2/queues/lost/messages", "/v2/queues/lost/stats"):
            result = site.public.get(path, params={"echo": "true"})
            assert result.status_code == 503, path
            assert "try again" in result.json["description"]
        posted = site.public.post("/v2/queues/lost/messages", json={"messages": [{"body": 1}]})
        assert posted.status_code == 503
        assert site.public.get("/v2/queues/fine/stats").json["messages"]["total"] == 1
        site.public.post_messages("fine", 2)
        assert site.public.get("/v2/queues").json["queues"][1]["name"] == "lost"
        assert site.public.get("/v2/ping").status_code == 204
        health = site.admin.get("/v2/health").json
        assert health["pools"]["down"] == {"storage_reachable": False}
        assert health["pools"]["a"]["message_volume"]["total"] == 2
        moved = site.admin.patch("/v2/pools/down", json={"uri": urls["down"] + "?x=1"})
        assert moved.status_code == 400 and "does not accept" in moved.json["description"]
    assert site.public.get("/v2/queues/lost/stats").json["messages"]["total"] == 1
    assert site.admin.delete("/v2/pools/down").status_code == 403
