"""``sqlqueue pool add|list|remove`` and ``sqlqueue db upgrade`` over catalogue and pools."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sqlqueue import cli
from sqlqueue.bootstrap import create_storage
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import Pool
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine
from tests.admin.conftest import DOWN, build_site
from tests.conftest import ServerUrls
from tests.e2e.conftest import command

pytestmark = pytest.mark.postgresql


def sqlqueue(catalogue: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script against the catalogue database ``catalogue``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    return subprocess.run(
        [*command(), "--database-url", catalogue, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def test_pool_add_list_remove(tmp_path: Path, server_urls: ServerUrls) -> None:
    catalogue = f"sqlite:///{tmp_path}/catalogue.db"  # not there yet: created and migrated
    lite, pg = f"sqlite:///{tmp_path}/lite.db", server_urls.url("postgresql", "admin_cli_add")
    added = sqlqueue(
        catalogue, "pool", "add", "lite", lite, "--weight", "5", "--option", "fifo=false"
    )
    assert added.returncode == 0, added.stderr
    assert f"pool lite added: SQLite database {tmp_path}/lite.db, weight 5" in added.stdout
    assert sqlqueue(catalogue, "pool", "add", "pg", pg, "--flavor", "big").returncode == 0
    listed = sqlqueue(catalogue, "pool", "list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "WEIGHT", "FLAVOR", "OPTIONS", "WHERE"]
    assert listed[1].split()[:4] == ["lite", "5", "-", '{"fifo":']
    assert listed[2].split() == ["pg", "100", "big", "-", "database", pg]
    assert revision(lite) == revision(pg) == migrate.head_revision()

    refusals = {
        ("add", "down", DOWN): "cannot reach the PostgreSQL server at 127.0.0.1:1",
        ("add", "twin", lite): "already exists",
        ("add", "odd", f"sqlite:///{tmp_path}/odd.db", "--option", "shards=2"): "Unknown pool",
        ("add", "bad", "sqlite:///x.db", "--option", "fifo"): "KEY=VALUE",
        ("remove", "nope"): "Pool nope does not exist",
    }
    for args, says in refusals.items():
        refused = sqlqueue(catalogue, "pool", *args)
        assert refused.returncode == 2, args
        assert says in refused.stderr, (args, refused.stderr)

    site = build_site(tmp_path, ManualClock())  # the admin API sees what the CLI did
    assert site.admin.get("/v2/pools/lite?detailed=true").json["options"] == {"fifo": False}
    site.admin.post_messages("jobs", 1)
    held = site.admin.get("/v2/catalogue/jobs").json["pool"]
    refused = sqlqueue(catalogue, "pool", "remove", held)
    assert refused.returncode == 2 and "still holds queues" in refused.stderr
    other = "pg" if held == "lite" else "lite"
    removed = sqlqueue(catalogue, "pool", "remove", other)
    assert removed.returncode == 0 and f"pool {other} removed" in removed.stdout
    assert [p["name"] for p in site.admin.get("/v2/pools").json["pools"]] == [held]
    for storage in site.storages:
        storage.close()


def test_db_upgrade_migrates_the_catalogue_and_every_pool(
    tmp_path: Path, server_urls: ServerUrls
) -> None:
    catalogue = f"sqlite:///{tmp_path}/catalogue.db"
    pools = {
        "lite": f"sqlite:///{tmp_path}/lite.db",
        "pg": server_urls.url("postgresql", "admin_cli_up"),
    }
    storage = create_storage(Settings(database_url=catalogue))
    for name, url in pools.items():
        storage.admin.pools.put(name, uri=url, weight=1)
    storage.control.pools.create(Pool("gone", DOWN, 1))  # registered, then lost
    storage.close()
    for url in (catalogue, *pools.values()):
        engine = make_engine(url)
        migrate.downgrade(engine, "0002")
        engine.dispose()

    result = sqlqueue(catalogue, "db", "upgrade")
    head = migrate.head_revision()
    assert result.returncode == 1  # one pool could not be reached
    assert f"is at {head}" in result.stdout.splitlines()[0]
    assert f"pool lite (SQLite database {tmp_path}/lite.db) is at {head}" in result.stdout
    assert f"pool pg (database {pools['pg']}) is at {head}" in result.stdout
    assert "pool gone (database postgresql://postgres@127.0.0.1:1/x) FAILED" in result.stderr
    assert {revision(url) for url in (catalogue, *pools.values())} == {head}

    storage = create_storage(Settings(database_url=catalogue))
    storage.admin.pools.delete("gone")
    storage.close()
    assert sqlqueue(catalogue, "db", "upgrade").returncode == 0
    swept = sqlqueue(catalogue, "gc")  # the catalogue database and both pools
    assert swept.returncode == 0 and "removed 0 expired rows" in swept.stdout


def test_serve_admin_defaults_to_the_admin_port() -> None:
    def settings(*args: str) -> Settings:
        return cli._settings(cli._parser().parse_args(["--database-url", "sqlite://", *args]))

    assert settings("serve").port == 8888
    assert (settings("serve", "--admin").port, settings("serve", "--admin").admin_mode) == (
        8889,
        True,
    )
    assert settings("serve", "--admin", "--port", "9000").port == 9000
