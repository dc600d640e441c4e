"""``sqlqueue db upgrade`` migrates the blob store's database, and ``gc`` collects it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine
from tests.conftest import ServerUrls
from tests.e2e.conftest import command

pytestmark = pytest.mark.postgresql


def test_db_upgrade_creates_the_blob_table(tmp_path: Path, server_urls: ServerUrls) -> None:
    catalogue = f"sqlite:///{tmp_path}/catalogue.db"
    blobs = server_urls.url("postgresql", "blob_cli")  # empty
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env["SQLQUEUE_BLOB_STORE"] = blobs

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command(), "--database-url", catalogue, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    head = migrate.head_revision()
    assert f"blob store database {blobs} is at {head}" in upgraded.stdout
    engine = make_engine(blobs)
    try:
        assert migrate.current_revision(engine) == head
    finally:
        engine.dispose()
    swept = run("gc")
    assert swept.returncode == 0, swept.stderr
