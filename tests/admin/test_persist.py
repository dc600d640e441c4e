"""Non-durable pools (the seed's ``"persist": false`` flavor) through the admin API.

A pool registered with the option ``persist`` false commits without waiting
for the disk where the database allows it per session; it does not offer
the DURABILITY capability, so neither does a flavor of such pools.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.admin.conftest import Site
from tests.conftest import ServerUrls
from tests.transport.conftest import Api

SERVER_CAPS = ["FIFO", "CLAIMS", "DURABILITY", "AOD", "HIGH_THROUGHPUT"]


def _session_setting(site: Site, pool: str, statement: str) -> Any:
    """What ``statement`` reads on a connection of the pool's own driver."""
    driver = site.storages[0].store.router.driver(pool)
    assert isinstance(driver, SqlDataDriver)
    with driver.engine.connect() as conn:
        return conn.exec_driver_sql(statement).scalar()


def _flavor_caps(admin: Api, name: str, pools: list[str]) -> list[str]:
    assert admin.put(f"/v2/flavors/{name}", json={"pool_list": pools}).status_code == 201
    return list(admin.get(f"/v2/flavors/{name}").json["capabilities"])


@pytest.mark.sqlite
def test_non_durable_sqlite_pool(site: Site, admin: Api) -> None:
    site.put_pool("safe", site.sqlite_url("safe"))
    site.put_pool("quick", site.sqlite_url("quick"), options={"persist": False})
    assert admin.get("/v2/pools/quick", params={"detailed": "true"}).json["options"] == {
        "persist": False
    }
    assert _flavor_caps(admin, "fast", ["quick"]) == ["FIFO", "CLAIMS", "AOD"]
    assert "DURABILITY" in _flavor_caps(admin, "slow", ["safe"])
    assert admin.put("/v2/queues/burst", json={"_flavor": "fast"}).status_code == 201
    admin.post_messages("burst", 1, 2, 3)
    listed = admin.get("/v2/queues/burst/messages", params={"echo": "true"}).json
    assert [m["body"] for m in listed["messages"]] == [1, 2, 3]
    assert _session_setting(site, "quick", "PRAGMA synchronous") == 0  # OFF
    assert _session_setting(site, "safe", "PRAGMA synchronous") == 1  # NORMAL


@pytest.mark.sqlite
def test_durable_and_non_durable_pools_do_not_share_a_flavor(site: Site, admin: Api) -> None:
    site.put_pool("safe", site.sqlite_url("safe"))
    site.put_pool("quick", site.sqlite_url("quick"), options={"persist": False})
    result = admin.put("/v2/flavors/mixed", json={"pool_list": ["safe", "quick"]})
    assert result.status_code == 400
    assert "same capabilities" in result.json["description"]


@pytest.mark.sqlite
@pytest.mark.parametrize("value", ["no", 0, None])
def test_persist_must_be_a_boolean(site: Site, admin: Api, value: Any) -> None:
    body = {"uri": site.sqlite_url("p"), "weight": 1, "options": {"persist": value}}
    result = admin.put("/v2/pools/p", json=body)
    assert result.status_code == 400
    assert "persist" in result.json["description"]


@pytest.mark.postgresql
def test_non_durable_postgresql_pool(site: Site, admin: Api, server_urls: ServerUrls) -> None:
    site.put_pool("safe", server_urls.url("postgresql", "persist_safe"))
    site.put_pool(
        "quick", server_urls.url("postgresql", "persist_quick"), options={"persist": False}
    )
    assert _flavor_caps(admin, "fast", ["quick"]) == [c for c in SERVER_CAPS if c != "DURABILITY"]
    assert _session_setting(site, "quick", "SHOW synchronous_commit") == "off"
    assert _session_setting(site, "safe", "SHOW synchronous_commit") == "on"
    assert admin.put("/v2/queues/burst", json={"_flavor": "fast"}).status_code == 201
    admin.post_messages("burst", 1, 2)
    engine = sa.create_engine(server_urls.url("postgresql", "persist_quick"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM messages").scalar() == 2
    engine.dispose()


@pytest.mark.mysql
def test_mysql_refuses_a_non_durable_pool(site: Site, admin: Api, server_urls: ServerUrls) -> None:
    body = {
        "uri": server_urls.url("mysql", "persist_quick"),
        "weight": 1,
        "options": {"persist": False},
    }
    result = admin.put("/v2/pools/quick", json=body)
    assert result.status_code == 400
    assert result.json["description"] == (
        "MySQL and MariaDB have no per-session durability switch: set"
        " innodb_flush_log_at_trx_commit = 2 (and sync_binlog = 0) on the server instead,"
        " and register the pool without persist=false."
    )
    assert admin.get("/v2/pools/quick").status_code == 404
