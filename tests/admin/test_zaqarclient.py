"""python-zaqarclient's pool, flavor and health calls against ``sqlqueue serve --admin``.

An admin server and a public server share one catalogue (a SQLite file),
as separate processes; the pools are a PostgreSQL database and a SQLite
file. The client sends no ``X-Roles``: noauth callers are admins.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zaqarclient.queues import client
from zaqarclient.transport import errors as zaqar_errors

from tests.admin.conftest import message_counts
from tests.conftest import ServerUrls
from tests.e2e.conftest import Server, start, stop

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("admin-e2e")


@pytest.fixture(scope="module")
def admin_server(where: Path) -> Iterator[Server]:
    catalogue = f"sqlite:///{where}/catalogue.db"
    running = start(catalogue, where / "server.log", "sqlite", SQLQUEUE_ADMIN_MODE="true")
    try:
        yield running
    finally:
        stop(running.process)


@pytest.fixture(scope="module")
def public_server(where: Path, admin_server: Server) -> Iterator[Server]:
    """A public server sharing the admin server's catalogue (another process)."""
    catalogue = f"sqlite:///{where}/catalogue.db"
    running = start(catalogue, where / "public.log", "sqlite", SQLQUEUE_CATALOGUE_CACHE_SECONDS="1")
    try:
        yield running
    finally:
        stop(running.process)


@pytest.fixture(scope="module")
def pg_pool(server_urls: ServerUrls) -> str:
    return server_urls.url("postgresql", "admin_zaqarclient")


def connect(server: Server, project: str = "admin-e2e") -> Any:
    auth = {"backend": "noauth", "options": {"os_project_id": project}}
    return client.Client(server.url, version=2, conf={"auth_opts": auth})


def test_the_server_says_it_serves_the_admin_api(admin_server: Server) -> None:
    assert "(admin API)" in admin_server.output()


def test_the_public_server_has_no_admin_routes(public_server: Server) -> None:
    cli = connect(public_server)
    with pytest.raises(zaqar_errors.ResourceNotFound):
        list(cli.pools())
    with pytest.raises(zaqar_errors.ResourceNotFound):
        cli.health()
    with pytest.raises(zaqar_errors.ResourceNotFound):
        cli.flavor("gold", pool_list=["big"])


def test_pools_flavors_and_health(
    admin_server: Server, public_server: Server, where: Path, pg_pool: str
) -> None:
    cli = connect(admin_server)
    lite = f"sqlite:///{where}/lite.db"
    big = cli.pool("big", weight=10, uri=pg_pool, options={})
    cli.pool("lite", weight=0, uri=lite, options={"fifo": False})
    assert big.get() == {
        "href": "/v2/pools/big",
        "name": "big",
        "uri": pg_pool,
        "weight": 10,
        "flavor": None,
    }
    assert [(p.name, p.weight) for p in cli.pools()] == [("big", 10), ("lite", 0)]
    big.update({"weight": 20})
    assert big.get()["weight"] == 20

    gold = cli.flavor("gold", pool_list=["big"])
    assert gold.get()["capabilities"] == ["FIFO", "CLAIMS", "DURABILITY", "AOD", "HIGH_THROUGHPUT"]
    fast = cli.flavor("fast", pool_list=["lite"])
    assert "FIFO" not in fast.get()["capabilities"]
    assert sorted(f.name for f in cli.flavors()) == ["fast", "gold"]
    assert big.get()["flavor"] == "gold"

    public = connect(public_server)  # another process: it finds the pools in the catalogue
    quick = public.queue("quick", force_create=True)  # no flavor: by weight, and lite has 0
    quick.post([{"body": n} for n in range(3)])
    assert message_counts(pg_pool) == {"quick": 3}
    assert [m.body for m in cli.queue("quick").messages(echo=True)] == [0, 1, 2]

    health = cli.health()
    assert health["catalog_reachable"] is True
    assert health["pools"]["big"]["message_volume"] == {"free": 3, "claimed": 0, "total": 3}
    assert health["pools"]["lite"]["storage_reachable"] is True

    with pytest.raises(zaqar_errors.ForbiddenError):
        big.delete()  # still holds "quick"
    quick.delete()
    fast.delete()
    gold.delete()
    assert list(cli.flavors()) == []
    big.delete()
    with pytest.raises(zaqar_errors.ResourceNotFound):
        big.get()
    with pytest.raises(zaqar_errors.MalformedRequest):
        cli.pool("bad", weight=1, uri="postgresql://postgres@127.0.0.1:1/x", options={})
    cli.pool("lite", auto_create=False).delete()
    assert list(cli.pools()) == []
