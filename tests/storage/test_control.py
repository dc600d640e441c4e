"""Pools, flavors and catalogue controllers (storage.md Part 5), on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from sqlqueue import errors
from sqlqueue.domain.models import CatalogueEntry, Flavor, Pool
from sqlqueue.storage.sql.control import Capability, SqlControlDriver, pool_capabilities

PG = "postgresql://u@db-{}/q"
SQLITE = "sqlite:////var/lib/sqlqueue/{}.db"


@pytest.fixture
def control(engine: Engine) -> SqlControlDriver:
    return SqlControlDriver(engine)


def add_pool(control: SqlControlDriver, name: str, flavor: str | None = None) -> Pool:
    pool = Pool(name, PG.format(name), 100, flavor, {"a": 1})
    control.pools.create(pool)
    return pool


# --- pools -----------------------------------------------------------------


def test_pool_create_get_exists(control: SqlControlDriver) -> None:
    pool = add_pool(control, "p1")
    assert control.pools.get("p1") == pool
    assert control.pools.exists("p1")
    assert not control.pools.exists("p2")


def test_pool_create_same_name_replaces(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    other = Pool("p1", PG.format("other"), 7, None, {"b": 2})
    control.pools.create(other)
    assert control.pools.get("p1") == other
    assert [p.name for p in control.pools.list().items] == ["p1"]


def test_pool_duplicate_uri_under_another_name(control: SqlControlDriver) -> None:
    pool = add_pool(control, "p1")
    with pytest.raises(errors.PoolAlreadyExists):
        control.pools.create(Pool("p2", pool.uri, 1))
    assert not control.pools.exists("p2")


def test_pool_get_missing(control: SqlControlDriver) -> None:
    with pytest.raises(errors.PoolDoesNotExist):
        control.pools.get("nope")


def test_pool_update(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    control.pools.update("p1", weight=5, options={"x": True})
    control.pools.update("p1", uri=PG.format("moved"))
    assert control.pools.get("p1") == Pool("p1", PG.format("moved"), 5, None, {"x": True})


def test_pool_update_validation(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    taken = add_pool(control, "p2")
    with pytest.raises(errors.ValidationFailed):
        control.pools.update("p1")
    with pytest.raises(errors.ValidationFailed):
        control.pools.update("p1", colour="red")
    with pytest.raises(errors.PoolDoesNotExist):
        control.pools.update("nope", weight=1)
    with pytest.raises(errors.PoolAlreadyExists):
        control.pools.update("p1", uri=taken.uri)


def test_pool_delete(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    control.pools.delete("p1")
    assert not control.pools.exists("p1")
    control.pools.delete("p1")  # silent when missing


def test_pool_in_use_by_queues(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    control.catalogue.insert("proj", "q", "p1")
    with pytest.raises(errors.PoolInUse):
        control.pools.delete("p1")
    control.catalogue.delete("proj", "q")
    control.pools.delete("p1")
    assert not control.pools.exists("p1")


def test_last_pool_of_live_flavor_in_use(control: SqlControlDriver) -> None:
    add_pool(control, "p1", "gold")
    add_pool(control, "p2", "gold")
    control.flavors.create(Flavor("gold", "proj"))
    control.pools.delete("p1")
    with pytest.raises(errors.PoolInUse):
        control.pools.delete("p2")
    control.flavors.delete("proj", "gold")
    control.pools.delete("p2")


def test_pool_listing(control: SqlControlDriver) -> None:
    for i in range(15):
        add_pool(control, f"p{i:02}")
    first = control.pools.list()
    assert [p.name for p in first.items] == [f"p{i:02}" for i in range(10)]
    rest = control.pools.list(marker=first.next_marker, limit=10)
    assert [p.name for p in rest.items] == [f"p{i:02}" for i in range(10, 15)]
    assert control.pools.list(marker=rest.next_marker).items == []
    assert len(control.pools.list(limit=3).items) == 3
    assert first.items[0].options == {"a": 1}


def test_pool_drop_all(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    add_pool(control, "p2")
    control.pools.drop_all()
    assert control.pools.list().items == []


def test_pools_by_flavor(control: SqlControlDriver) -> None:
    add_pool(control, "p1", "gold")
    add_pool(control, "p2")
    add_pool(control, "p3", "gold")
    assert [p.name for p in control.pools.list_by_flavor("gold")] == ["p1", "p3"]
    assert [p.name for p in control.pools.list_by_flavor(None)] == ["p2"]


def test_flavor_capability_mismatch(control: SqlControlDriver) -> None:
    add_pool(control, "pg", "gold")
    with pytest.raises(errors.ValidationFailed):
        control.pools.create(Pool("lite", SQLITE.format("x"), 1, "gold"))
    control.pools.create(Pool("lite", SQLITE.format("x"), 1, "silver"))
    with pytest.raises(errors.ValidationFailed):
        control.pools.update("lite", flavor="gold")


def test_pool_uri_must_name_a_backend(control: SqlControlDriver) -> None:
    with pytest.raises(errors.ValidationFailed):
        control.pools.create(Pool("m", "mongodb://localhost:27017", 1))
    with pytest.raises(errors.ValidationFailed):
        control.pools.create(Pool("m", "not a uri", 1))


def test_capabilities_by_backend(control: SqlControlDriver) -> None:
    assert pool_capabilities(PG.format("x")) == list(Capability)
    assert pool_capabilities("mysql+pymysql://root@h/db") == list(Capability)
    assert Capability.HIGH_THROUGHPUT not in pool_capabilities(SQLITE.format("x"))
    assert Capability.DURABILITY in pool_capabilities(SQLITE.format("x"))
    assert Capability.DURABILITY not in pool_capabilities("sqlite://")
    add_pool(control, "p1")
    assert control.pools.capabilities("p1") == list(Capability)


# --- catalogue -------------------------------------------------------------


def test_catalogue_lifecycle(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    control.catalogue.insert("proj", "q", "p1")
    assert control.catalogue.get("proj", "q") == CatalogueEntry("proj", "q", "p1")
    assert control.catalogue.exists("proj", "q")
    assert not control.catalogue.exists("other", "q")
    control.catalogue.delete("proj", "q")
    assert not control.catalogue.exists("proj", "q")
    control.catalogue.delete("proj", "q")  # silent when missing


def test_catalogue_get_missing(control: SqlControlDriver) -> None:
    with pytest.raises(errors.QueueNotMapped):
        control.catalogue.get("proj", "q")


def test_catalogue_insert_on_existing_updates(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    add_pool(control, "p2")
    control.catalogue.insert("proj", "q", "p1")
    control.catalogue.insert("proj", "q", "p2")
    assert control.catalogue.get("proj", "q").pool == "p2"


def test_catalogue_insert_if_absent_keeps_first(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    add_pool(control, "p2")
    assert control.catalogue.insert_if_absent("proj", "q", "p1") == "p1"
    assert control.catalogue.insert_if_absent("proj", "q", "p2") == "p1"
    assert control.catalogue.get("proj", "q").pool == "p1"


def test_catalogue_unknown_pool(control: SqlControlDriver) -> None:
    with pytest.raises(errors.PoolDoesNotExist):
        control.catalogue.insert("proj", "q", "nope")
    with pytest.raises(errors.PoolDoesNotExist):
        control.catalogue.insert_if_absent("proj", "q", "nope")


def test_catalogue_update(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    add_pool(control, "p2")
    with pytest.raises(errors.QueueNotMapped):
        control.catalogue.update("proj", "q", "p1")
    control.catalogue.insert("proj", "q", "p1")
    control.catalogue.update("proj", "q", "p2")
    assert control.catalogue.get("proj", "q").pool == "p2"


def test_catalogue_list_per_project(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    for i in range(12):
        control.catalogue.insert("a", f"q{i:02}", "p1")
    control.catalogue.insert("b", "q00", "p1")
    first = control.catalogue.list("a")
    assert [e.queue for e in first.items] == [f"q{i:02}" for i in range(10)]
    rest = control.catalogue.list("a", marker=first.next_marker)
    assert [e.queue for e in rest.items] == ["q10", "q11"]
    assert control.catalogue.list("b").items == [CatalogueEntry("b", "q00", "p1")]


def test_catalogue_list_all_projects(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    for project in ("a", "b", "c"):
        for queue in ("x", "y"):
            control.catalogue.insert(project, queue, "p1")
    seen: list[tuple[str, str]] = []
    marker = None
    while True:
        page = control.catalogue.list(None, marker=marker, limit=4)
        if not page.items:
            break
        seen += [(e.project, e.queue) for e in page.items]
        marker = page.next_marker
    assert seen == [(p, q) for p in ("a", "b", "c") for q in ("x", "y")]


def test_catalogue_drop_all(control: SqlControlDriver) -> None:
    add_pool(control, "p1")
    control.catalogue.insert("proj", "q", "p1")
    control.catalogue.drop_all()
    assert control.catalogue.list(None).items == []


# --- flavors ---------------------------------------------------------------


def test_flavor_lifecycle(control: SqlControlDriver) -> None:
    flavor = Flavor("gold", "proj", {"fifo": True})
    control.flavors.create(flavor)
    assert control.flavors.get("proj", "gold") == flavor
    assert control.flavors.exists("proj", "gold")
    control.flavors.delete("proj", "gold")
    assert not control.flavors.exists("proj", "gold")
    control.flavors.delete("proj", "gold")  # silent when missing


def test_flavor_create_same_name_replaces(control: SqlControlDriver) -> None:
    control.flavors.create(Flavor("gold", "proj", {"v": 1}))
    control.flavors.create(Flavor("gold", "proj", {"v": 2}))
    assert control.flavors.get("proj", "gold").capabilities == {"v": 2}
    assert len(control.flavors.list("proj").items) == 1


def test_flavors_are_per_project(control: SqlControlDriver) -> None:
    control.flavors.create(Flavor("gold", "a", {"v": 1}))
    with pytest.raises(errors.FlavorDoesNotExist):
        control.flavors.get("b", "gold")
    control.flavors.create(Flavor("gold", "b", {"v": 2}))
    assert control.flavors.get("a", "gold").capabilities == {"v": 1}
    assert control.flavors.list("b").items == [Flavor("gold", "b", {"v": 2})]


def test_flavor_update(control: SqlControlDriver) -> None:
    control.flavors.create(Flavor("gold", "proj"))
    with pytest.raises(errors.ValidationFailed):
        control.flavors.update("proj", "gold")
    with pytest.raises(errors.FlavorDoesNotExist):
        control.flavors.update("proj", "nope", capabilities={})
    control.flavors.update("proj", "gold", capabilities={"v": 3})
    assert control.flavors.get("proj", "gold").capabilities == {"v": 3}


def test_flavor_delete_clears_pools_when_unused(control: SqlControlDriver) -> None:
    add_pool(control, "p1", "gold")
    control.flavors.create(Flavor("gold", "a"))
    control.flavors.create(Flavor("gold", "b"))
    control.flavors.delete("a", "gold")
    assert control.pools.get("p1").flavor == "gold"  # project b still has it
    control.flavors.delete("b", "gold")
    assert control.pools.get("p1").flavor is None


def test_flavor_listing_and_drop_all(control: SqlControlDriver) -> None:
    for i in range(13):
        control.flavors.create(Flavor(f"f{i:02}", "proj"))
    first = control.flavors.list("proj")
    assert [f.name for f in first.items] == [f"f{i:02}" for i in range(10)]
    rest = control.flavors.list("proj", marker=first.next_marker)
    assert [f.name for f in rest.items] == ["f10", "f11", "f12"]
    control.flavors.drop_all()
    assert control.flavors.list("proj").items == []


def test_control_is_alive(control: SqlControlDriver) -> None:
    assert control.is_alive()
