"""The pooled queue store over real databases.

Pools: ``a`` and ``b`` are two PostgreSQL databases, ``c`` a SQLite file;
the catalogue (and the default pool) is one more SQLite file. Every test
starts from empty databases and a seeded random source, so placements are
deterministic.
"""

from __future__ import annotations

import functools
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue import errors
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import Flavor, NewMessage, Pool
from sqlqueue.domain.namespaces import QUEUES, TOPICS, Namespace
from sqlqueue.storage.base import DataDriver, QueueStore, StorageOptions
from sqlqueue.storage.pooling import PooledStore, weighted_choice
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.control import SqlControlDriver
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import catalogue, messages, pools, queues
from tests.conftest import ServerUrls, empty_tables
from tests.storage import test_claims, test_messages, test_queues, test_stats
from tests.threads import run_threads

pytestmark = pytest.mark.postgresql

P = "proj"
CLIENT = "8f1e2d3c4b5a69788796a5b4c3d2e1f0"
NOWHERE = "postgresql://postgres@127.0.0.1:1/nope"
CACHE = 5.0


@dataclass
class Cluster:
    """The databases: ``control`` (catalogue + default pool) and pools a, b, c."""

    urls: dict[str, str]
    engines: dict[str, Engine]


@dataclass
class World:
    """One test's drivers over the cluster."""

    cluster: Cluster
    control: SqlControlDriver
    default: SqlDataDriver
    pooled: PooledStore
    clock: ManualClock
    opened: list[DataDriver] = field(default_factory=list)

    def add_pool(self, name: str, weight: int, flavor: str | None = None) -> None:
        self.control.pools.create(Pool(name, self.cluster.urls[name], weight, flavor))
        self.pooled.invalidate()

    def placements(self) -> dict[str, str]:
        entries = self.control.catalogue.list(P, limit=10000).items
        return {e.queue: e.pool for e in entries}


@pytest.fixture(scope="module")
def cluster(server_urls: ServerUrls) -> Iterator[Cluster]:
    urls = {
        "control": server_urls.url("sqlite", "pooling_catalogue"),
        "a": server_urls.url("postgresql", "pool_a"),
        "b": server_urls.url("postgresql", "pool_b"),
        "c": server_urls.url("sqlite", "pool_c"),
    }
    engines = {name: make_engine(url) for name, url in urls.items()}
    for engine in engines.values():
        migrate.upgrade(engine)
    yield Cluster(urls, engines)
    for engine in engines.values():
        engine.dispose()


def make_pooled(world: World, seed: int = 1234) -> PooledStore:
    def factory(pool: Pool) -> DataDriver:
        options = StorageOptions(creates_dead_letter_queues=False)  # as bootstrap's pools
        driver = SqlDataDriver.from_url(pool.uri, clock=world.clock, options=options)
        world.opened.append(driver)
        return driver

    return PooledStore(
        world.control,
        factory,
        world.default,
        clock=world.clock,
        cache_seconds=CACHE,
        rng=random.Random(seed),
    )


@pytest.fixture
def world(cluster: Cluster, clock: ManualClock) -> Iterator[World]:
    for engine in cluster.engines.values():
        empty_tables(engine)
    control = SqlControlDriver(cluster.engines["control"])
    default = SqlDataDriver(cluster.engines["control"], clock=clock)
    made = World(cluster, control, default, None, clock)  # type: ignore[arg-type]
    made.pooled = make_pooled(made)
    yield made
    made.pooled.close()
    for driver in made.opened:
        driver.close()


def message_counts(engine: Engine) -> dict[str, int]:
    """Raw per-queue message counts in one database."""
    stmt = (
        sa.select(queues.c.name, sa.func.count(messages.c.id))
        .join(messages, messages.c.queue_id == queues.c.id)
        .group_by(queues.c.name)
    )
    with engine.connect() as conn:
        return {name: int(n) for name, n in conn.execute(stmt)}


def queue_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(queues.c.name)).scalars())


def post(store: PooledStore, queue: str, count: int) -> list[str]:
    batch = [NewMessage({"q": queue, "n": i}, ttl=300) for i in range(count)]
    return store.placing(P, queue).messages.post(P, queue, batch, CLIENT)


def test_placement_follows_weights(world: World) -> None:
    weights = {"a": 1, "b": 2, "c": 1}
    for name, weight in weights.items():
        world.add_pool(name, weight)
    for i in range(200):
        assert world.pooled.create_queue(P, f"q{i:03}", {"i": i})
    placed = Counter(world.placements().values())
    assert sum(placed.values()) == 200
    expected = {name: 200 * w / sum(weights.values()) for name, w in weights.items()}
    chi2 = sum((placed[name] - e) ** 2 / e for name, e in expected.items())
    # Chi-square goodness of fit, 2 degrees of freedom: a fair weighted draw
    # exceeds 13.82 with probability 0.001 (the seed is fixed: deterministic).
    assert chi2 < 13.82, (placed, chi2)
    for name in weights:
        assert queue_names(world.cluster.engines[name]) == {
            q for q, pool in world.placements().items() if pool == name
        }
    assert queue_names(world.cluster.engines["control"]) == set()


def test_messages_live_only_in_their_pool(world: World) -> None:
    for name, weight in {"a": 1, "b": 1, "c": 1}.items():
        world.add_pool(name, weight)
    posted = {f"m{i:02}": post(world.pooled, f"m{i:02}", 1 + i % 4) for i in range(30)}
    placements = world.placements()
    assert set(placements) == set(posted)
    assert set(placements.values()) == {"a", "b", "c"}
    for name in ("a", "b", "c"):
        counts = message_counts(world.cluster.engines[name])
        assert counts == {q: len(ids) for q, ids in posted.items() if placements[q] == name}
    assert message_counts(world.cluster.engines["control"]) == {}
    for queue, ids in posted.items():
        listed = world.pooled.at(P, queue).messages.list(P, queue, echo=True, limit=10).items
        assert [m.id for m in listed] == ids
        assert all(m.body["q"] == queue for m in listed)


def test_claims_and_deletes_route_to_the_pool(world: World) -> None:
    world.add_pool("a", 1)
    world.add_pool("c", 1)
    for queue in ("x", "y"):
        post(world.pooled, queue, 3)
    claim_id, claimed = world.pooled.at(P, "x").claims.create(P, "x", ttl=60, grace=60, limit=2)
    assert claim_id is not None and len(claimed) == 2
    assert world.pooled.at(P, "x").claims.get(P, "x", claim_id)[0].id == claim_id
    world.pooled.at(P, "x").messages.delete(P, "x", claimed[0].id, claim_id)
    assert world.pooled.at(P, "x").queues.stats(P, "x").total == 2
    assert world.pooled.at(P, "y").queues.stats(P, "y").total == 3
    world.pooled.delete_queue(P, "x")
    assert not world.pooled.at(P, "x").queues.exists(P, "x")
    assert "x" not in world.placements()
    for name in ("a", "c"):
        assert "x" not in queue_names(world.cluster.engines[name])


def test_listing_pages_over_all_pools_once(world: World) -> None:
    world.default.queues.create(P, "legacy", {"old": True})  # made before pooling
    for name in ("a", "b", "c"):
        world.add_pool(name, 1)
    names = [f"l{i:02}" for i in range(47)]
    for i, queue in enumerate(names):
        world.pooled.create_queue(P, queue, {"i": i, "even": i % 2 == 0})
    world.pooled.create_queue("other", "l00", {})
    everything = sorted([*names, "legacy"])
    assert walk(world.pooled, limit=6) == everything
    assert walk(world.pooled, limit=20, detailed=True) == everything
    detailed = world.pooled.list_queues(P, marker="l09", limit=2, detailed=True)
    assert [(q.name, q.metadata) for q in detailed.items] == [
        ("l10", {"i": 10, "even": True}),
        ("l11", {"i": 11, "even": False}),
    ]
    evens = world.pooled.list_queues(P, filters={"even": True}, limit=100, with_count=True)
    assert [q.name for q in evens.items] == names[::2]
    assert evens.count == 24
    assert [q.name for q in world.pooled.list_queues(P, name="gac").items] == ["legacy"]
    assert world.pooled.list_queues(P, with_count=True).count == 48


def walk(store: QueueStore, *, limit: int, detailed: bool = False) -> list[str]:
    seen: list[str] = []
    marker = None
    while True:
        page = store.list_queues(P, marker=marker, limit=limit, detailed=detailed)
        if not page.items:
            return seen
        assert all((q.metadata is not None) == detailed for q in page.items)
        seen += [q.name for q in page.items]
        marker = page.next_marker


def test_topics_are_placed_and_listed_apart_from_queues(world: World) -> None:
    """Topic X and queue X are placed, listed and deleted independently."""
    world.default.queues.create(P, TOPICS.key("legacy"), {})  # made before pooling
    for name in ("a", "b", "c"):
        world.add_pool(name, 1)
    names = [f"n{i:02}" for i in range(13)]
    for name in names:
        world.pooled.create_queue(P, name, {"queue": name})
        post(world.pooled, TOPICS.key(name), 2)
    queues = world.pooled.list_queues(P, limit=20, with_count=True)
    assert ([q.name for q in queues.items], queues.count) == (names, 13)
    keys = [TOPICS.key(n) for n in [*names, "legacy"]]
    first = world.pooled.list_queues(P, limit=10, namespace=TOPICS, with_count=True)
    rest = world.pooled.list_queues(P, marker=first.next_marker, limit=10, namespace=TOPICS)
    assert [t.name for t in first.items + rest.items] == sorted(keys)
    assert first.count == 14
    key = TOPICS.key("n03")
    world.pooled.delete_queue(P, key)
    assert key not in world.placements() and "n03" in world.placements()
    assert world.pooled.at(P, "n03").queues.get_metadata(P, "n03") == {"queue": "n03"}
    assert world.pooled.at(P, TOPICS.key("n04")).queues.stats(P, TOPICS.key("n04")).total == 2


def test_flavor_restricts_placement(world: World) -> None:
    world.add_pool("a", 1, "gold")
    world.add_pool("b", 1, "gold")
    world.add_pool("c", 5)
    world.control.flavors.create(Flavor("gold", P))
    for i in range(20):
        world.pooled.create_queue(P, f"g{i:02}", {"_flavor": "gold"})
        world.pooled.create_queue(P, f"n{i:02}", {})
    placed = world.placements()
    assert {placed[f"g{i:02}"] for i in range(20)} == {"a", "b"}
    assert "c" in {placed[f"n{i:02}"] for i in range(20)}
    with pytest.raises(errors.FlavorDoesNotExist):
        world.pooled.create_queue(P, "bad", {"_flavor": "silver"})
    with pytest.raises(errors.FlavorDoesNotExist):  # flavors are per project
        world.pooled.create_queue("other", "g00", {"_flavor": "gold"})
    world.control.pools.update("a", weight=0)
    world.control.pools.update("b", weight=0)
    world.pooled.invalidate()
    with pytest.raises(errors.NoPoolFound):
        world.pooled.create_queue(P, "late", {"_flavor": "gold"})
    assert "bad" not in placed and "late" not in world.placements()


def test_unreachable_pool_fails_only_its_queues(world: World) -> None:
    world.add_pool("a", 1)
    world.control.pools.create(Pool("down", NOWHERE, 0))
    world.control.catalogue.insert(P, "lost", "down")
    post(world.pooled, "fine", 2)
    with pytest.raises(errors.StorageUnavailable):
        post(world.pooled, "lost", 1)
    with pytest.raises(errors.StorageUnavailable):
        world.pooled.at(P, "lost").messages.list(P, "lost")
    with pytest.raises(errors.StorageUnavailable):
        world.pooled.at(P, "lost").queues.get_metadata(P, "lost")
    assert world.pooled.at(P, "fine").queues.stats(P, "fine").total == 2
    assert walk(world.pooled, limit=10) == ["fine", "lost"]  # names: catalogue only
    with pytest.raises(errors.StorageUnavailable):
        walk(world.pooled, limit=10, detailed=True)
    assert not world.pooled.is_alive()
    world.pooled.gc()  # skips the pool that is down
    assert not world.pooled.reachable(Pool("x", NOWHERE, 1))
    assert world.pooled.reachable(Pool("b", world.cluster.urls["b"], 1))


def test_gc_sweeps_every_pool(world: World) -> None:
    world.add_pool("a", 1)
    world.add_pool("c", 1)
    for i in range(6):
        post(world.pooled, f"g{i}", 2)
    assert set(world.placements().values()) == {"a", "c"}
    world.clock.advance(301)
    assert world.pooled.gc() == 12
    assert all(not message_counts(world.cluster.engines[n]) for n in ("a", "c"))


def test_pool_that_goes_away(world: World) -> None:
    world.add_pool("a", 1)
    world.add_pool("c", 1)
    for i in range(10):
        post(world.pooled, f"w{i}", 1)
    placed = world.placements()
    assert set(placed.values()) == {"a", "c"}
    with pytest.raises(errors.PoolHoldsQueues):  # an operator cannot re-point it ...
        world.control.pools.update("c", uri=NOWHERE)
    with world.cluster.engines["control"].begin() as conn:  # ... but its database can go away
        conn.execute(sa.update(pools).where(pools.c.name == "c").values(uri=NOWHERE))
    world.clock.advance(CACHE + 1)  # our cached view of the pools expires
    for queue, pool in placed.items():
        if pool == "c":
            with pytest.raises(errors.StorageUnavailable):
                world.pooled.at(P, queue).queues.stats(P, queue)
        else:
            assert world.pooled.at(P, queue).queues.stats(P, queue).total == 1


def test_no_pool_means_the_default_pool(world: World) -> None:
    assert world.pooled.create_queue(P, "plain", {"k": 1})
    post(world.pooled, "plain", 2)
    post(world.pooled, "lazy", 1)
    assert message_counts(world.cluster.engines["control"]) == {"plain": 2, "lazy": 1}
    assert world.placements() == {}
    assert walk(world.pooled, limit=1) == ["lazy", "plain"]
    world.add_pool("a", 1)
    post(world.pooled, "plain", 1)  # created before pooling: stays on the default
    post(world.pooled, "fresh", 1)
    assert world.placements() == {"fresh": "a"}
    assert message_counts(world.cluster.engines["control"]) == {"plain": 3, "lazy": 1}
    assert walk(world.pooled, limit=2) == ["fresh", "lazy", "plain"]
    assert world.pooled.is_alive()


def test_a_pool_registered_by_another_worker_is_used_at_once(world: World) -> None:
    """A worker that cached "no pools" must not put new queues on the default for good."""
    post(world.pooled, "before", 1)  # caches the empty pool list in this worker
    world.control.pools.create(Pool("a", world.cluster.urls["a"], 1, None))  # another worker
    post(world.pooled, "after", 1)  # no invalidate(), no clock advance
    assert world.placements() == {"after": "a"}
    assert message_counts(world.cluster.engines["a"]) == {"after": 1}
    assert message_counts(world.cluster.engines["control"]) == {"before": 1}


def _statements(engine: Engine, run: Callable[[], Any]) -> list[str]:
    """The SQL texts ``run()`` sent through ``engine``."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return sent


def _placement_reads(sent: list[str]) -> list[str]:
    """The statements that read the pool list, the catalogue or whether a queue exists."""
    return [s for s in sent if "FROM pools" in s or "catalogue" in s or s.startswith("SELECT")]


def test_posts_to_a_queue_on_the_default_read_no_placement_again(world: World) -> None:
    """A queue sent to the default database is remembered there like a placement."""
    control = world.cluster.engines["control"]
    first = _statements(control, lambda: post(world.pooled, "plain", 1))
    assert any("FROM pools" in s for s in first)  # no pools cached yet: read again
    again = _statements(control, lambda: post(world.pooled, "plain", 1))
    assert _placement_reads(again) == []
    world.clock.advance(CACHE + 1)
    assert any(
        "FROM pools" in s for s in _statements(control, lambda: post(world.pooled, "plain", 1))
    )
    world.add_pool("a", 1)  # "plain" came before pooling: it stays on the default
    assert _placement_reads(_statements(control, lambda: post(world.pooled, "plain", 1))) != []
    assert _placement_reads(_statements(control, lambda: post(world.pooled, "plain", 1))) == []
    assert message_counts(control) == {"plain": 5}
    assert world.placements() == {}


def test_a_queue_deleted_here_is_placed_again(world: World) -> None:
    post(world.pooled, "q", 1)  # on the default: no pools
    world.control.pools.create(Pool("a", world.cluster.urls["a"], 1, None))  # another worker
    world.pooled.delete_queue(P, "q")
    post(world.pooled, "q", 1)  # this process forgot "q"'s old home with the queue
    assert world.placements() == {"q": "a"}
    assert message_counts(world.cluster.engines["control"]) == {}


def test_a_pool_removed_by_another_worker_is_not_placed_on(world: World) -> None:
    world.add_pool("a", 1)
    world.add_pool("b", 1000)
    assert {p.name for p in world.pooled.router.pools()} == {"a", "b"}  # cached here
    world.control.pools.delete("b")  # another worker removes b
    for i in range(5):
        post(world.pooled, f"q{i}", 1)  # no invalidate(), no clock advance
    assert world.placements() == {f"q{i}": "a" for i in range(5)}


def test_the_last_pool_removed_by_another_worker_leaves_the_default(world: World) -> None:
    world.add_pool("b", 1)
    assert [p.name for p in world.pooled.router.pools()] == ["b"]  # cached here
    world.control.pools.delete("b")  # another worker removes the only pool
    post(world.pooled, "q", 1)
    assert world.placements() == {}
    assert message_counts(world.cluster.engines["control"]) == {"q": 1}


def test_subscription_create_places_its_queue(world: World) -> None:
    world.add_pool("b", 1)
    where = world.pooled.placing(P, "s")
    sub = where.subscriptions.create(P, "s", "http://example.com/hook", 3600, {})
    assert sub is not None
    assert world.placements() == {"s": "b"}
    post(world.pooled, "s", 1)
    assert message_counts(world.cluster.engines["b"]) == {"s": 1}
    assert (
        world.pooled.at(P, "s").subscriptions.get(P, "s", sub).subscriber
        == "http://example.com/hook"
    )


def test_cached_placement_is_stale_for_a_bounded_time(world: World) -> None:
    world.add_pool("a", 1)
    world.add_pool("b", 1)
    post(world.pooled, "q", 1)
    home = world.placements()["q"]
    elsewhere = "b" if home == "a" else "a"
    world.control.catalogue.update(P, "q", elsewhere)  # e.g. another process re-placed it
    world.clock.advance(CACHE - 1)
    assert world.pooled.at(P, "q").queues.stats(P, "q").total == 1  # still the cached pool
    world.clock.advance(2)
    assert world.pooled.at(P, "q").queues.stats(P, "q").total == 0  # now the new pool


def test_concurrent_first_posts_agree_on_one_pool(world: World) -> None:
    world.add_pool("a", 1)
    world.add_pool("b", 1)
    drivers = [make_pooled(world, seed) for seed in range(8)]
    try:
        run_threads([functools.partial(post, driver, "race", 5) for driver in drivers], 30)
    finally:
        for driver in drivers:
            driver.close()
    pool = world.placements()["race"]
    assert message_counts(world.cluster.engines[pool]) == {"race": 40}
    other = "b" if pool == "a" else "a"
    assert message_counts(world.cluster.engines[other]) == {}


def test_dead_letter_queue_is_placed_beside_its_source(world: World) -> None:
    world.add_pool("a", 1)
    world.add_pool("b", 1)
    meta = {"_max_claim_count": 1, "_dead_letter_queue": "dead"}
    world.pooled.create_queue(P, "src", meta)
    assert world.placements()["dead"] == world.placements()["src"]
    post(world.pooled, "src", 1)
    claim_id, _ = world.pooled.at(P, "src").claims.create(P, "src", ttl=60, grace=60)
    assert claim_id is not None
    world.pooled.at(P, "src").claims.delete(P, "src", claim_id)
    assert world.pooled.at(P, "src").claims.create(P, "src", ttl=60, grace=60) == (None, [])
    assert len(world.pooled.at(P, "dead").messages.list(P, "dead", echo=True).items) == 1


def test_a_dead_letter_queue_on_another_pool_gets_its_dead_letters_there(world: World) -> None:
    world.add_pool("a", 1)
    world.add_pool("b", 1)
    post(world.pooled, "src", 1)
    home = world.placements()["src"]
    far = "b" if home == "a" else "a"
    world.control.catalogue.insert(P, "far", far)
    meta = {"_max_claim_count": 1, "_dead_letter_queue": "far"}
    world.pooled.placing(P, "src", meta).queues.set_metadata(P, "src", meta)
    assert world.placements()["far"] == far
    claim_id, _ = world.pooled.at(P, "src").claims.create(P, "src", ttl=60, grace=60)
    assert claim_id is not None
    world.pooled.at(P, "src").claims.delete(P, "src", claim_id)

    assert world.pooled.at(P, "src").claims.create(P, "src", ttl=60, grace=60) == (None, [])

    assert len(world.pooled.at(P, "far").messages.list(P, "far", echo=True).items) == 1
    assert message_counts(world.cluster.engines[far]) == {"far": 1}
    assert message_counts(world.cluster.engines[home]) == {}


def test_weighted_choice_skips_non_positive_weights() -> None:
    pools = [
        Pool("zero", "u0", 0),
        Pool("three", "u1", 3),
        Pool("neg", "u2", -1),
        Pool("one", "u3", 1),
    ]
    rng = random.Random(7)
    drawn = Counter(weighted_choice(pools, rng).name for _ in range(4000))  # type: ignore[union-attr]
    assert set(drawn) == {"three", "one"}
    # Binomial(4000, 0.75): sigma = 27.4; allow 4 sigma (fails with p < 1e-4).
    assert abs(drawn["three"] - 3000) < 4 * 27.4
    assert weighted_choice([Pool("zero", "u0", 0)], rng) is None
    assert weighted_choice([], rng) is None


def test_pooling_does_not_import_sqlalchemy() -> None:
    code = (
        "import sys, sqlqueue.storage.pooling; "
        "bad = ('sqlalchemy', 'sqlqueue.storage.sql'); "
        "assert not [m for m in sys.modules if m.startswith(bad)]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_catalogue_table_holds_only_placed_queues(world: World) -> None:
    world.add_pool("a", 1)
    post(world.pooled, "one", 1)
    with world.cluster.engines["control"].connect() as conn:
        rows = conn.execute(sa.select(catalogue.c.project, catalogue.c.queue)).all()
    assert [tuple(r) for r in rows] == [(P, "one")]


# --- the storage contract suite, run through the pooled store ---------------


class _Routed:
    """A controller-shaped view: each call resolved through the store, as callers do."""

    def __init__(self, store: QueueStore, name: str, placing: frozenset[str] = frozenset()):
        self._store, self._name, self._placing = store, name, placing

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(project: str, queue: str, *args: Any, **kwargs: Any) -> Any:
            resolve = self._store.placing if method in self._placing else self._store.at
            controller = getattr(resolve(project, queue), self._name)
            return getattr(controller, method)(project, queue, *args, **kwargs)

        return call


class _Queues(_Routed):
    def create(self, project: str, name: str, metadata: Any = None) -> bool:
        return self._store.create_queue(project, name, metadata)

    def delete(self, project: str, name: str) -> None:
        self._store.delete_queue(project, name)

    def list(self, project: str, **kwargs: Any) -> Any:
        return self._store.list_queues(project, **kwargs)

    def set_metadata(self, project: str, name: str, metadata: Any) -> None:
        where = self._store.placing(project, name, metadata)
        where.queues.set_metadata(project, name, metadata)

    def projects(self, namespace: Namespace = QUEUES) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for opener in self._store.databases():
            counts.update(opener().queues.projects(namespace))
        return dict(counts)


class StoreDriver:
    """The DataDriver contract over a store, for the contract suite (tests only)."""

    def __init__(self, store: QueueStore) -> None:
        self.queues = _Queues(store, "queues")
        self.messages = _Routed(store, "messages", frozenset({"post"}))
        self.claims = _Routed(store, "claims")
        self.subscriptions = _Routed(store, "subscriptions", frozenset({"create"}))
        self.is_alive, self.gc = store.is_alive, store.gc


@pytest.fixture
def driver(world: World) -> StoreDriver:
    """The contract suite's driver: pooled over a PostgreSQL and a SQLite pool."""
    world.add_pool("a", 1)
    world.add_pool("c", 1)
    return StoreDriver(world.pooled)


for _module in (test_queues, test_messages, test_claims, test_stats):
    for _name, _test in vars(_module).items():
        if _name.startswith("test_") and callable(_test):
            _suite = _module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
            globals()[f"test_pooled_{_suite}_{_name.removeprefix('test_')}"] = _test


def test_release_waiters_ends_long_polls_in_every_pool(world: World) -> None:
    world.add_pool("a", 1)
    post(world.pooled, "lp", 1)
    assert world.placements() == {"lp": "a"}
    wakeups = world.pooled.at(P, "lp").wakeups
    ended: list[tuple[bool, float]] = []

    def wait() -> None:
        started = time.monotonic()
        waiter = wakeups.join(P, "lp", consumes=True)
        while wakeups.wait(waiter, 10):
            pass  # a spurious wake (the LISTEN connection starting): wait on, as requests do
        wakeups.leave(waiter)
        ended.append((False, time.monotonic() - started))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    world.pooled.release_waiters()
    waiter.join(timeout=5)
    assert ended and ended[0][0] is False and ended[0][1] < 3  # released, not timed out
