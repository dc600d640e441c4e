"""Fixtures of the admin API tests: admin and public apps over one catalogue database.

Each test gets a fresh SQLite catalogue file; pools are SQLite files beside
it unless a test asks for PostgreSQL databases (``server_urls``). Both apps
share the catalogue database, as an admin and a public process do, but each
has its own storage (and its own cache of the catalogue).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from sqlqueue.bootstrap import Storage, create_app, create_storage
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import messages, pools, queues
from tests.transport.conftest import Api

SECRET = "admin-test-secret"
CACHE = 5.0
DOWN = "postgresql://postgres@127.0.0.1:1/x"


@dataclass
class Site:
    """An admin app and a public app over one catalogue, and the storages under them."""

    tmp: Path
    settings: Settings
    clock: ManualClock
    admin: Api
    public: Api
    storages: list[Storage] = field(default_factory=list)

    def sqlite_url(self, name: str) -> str:
        """A SQLite database file for a pool (created empty on first use)."""
        return f"sqlite:///{self.tmp}/{name}.db"

    def put_pool(self, name: str, uri: str, weight: int = 1, **more: object) -> None:
        """Register a pool over HTTP; fail the test unless it is created."""
        result = self.admin.put(f"/v2/pools/{name}", json={"uri": uri, "weight": weight, **more})
        assert result.status_code == 201, result.text

    def lose_pool(self, name: str, uri: str = "") -> None:
        """Make pool ``name``'s database unreachable (its row now names ``uri``, or DOWN).

        Written in the catalogue database directly: the admin API refuses a
        new uri for a pool holding queues, but a database can go away.
        """
        engine = make_engine(self.settings.database_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.update(pools).where(pools.c.name == name).values(uri=uri or DOWN))
        finally:
            engine.dispose()

    def settle(self) -> None:
        """Let every process's cached view of the catalogue expire."""
        self.clock.advance(CACHE + 1)


def build_site(tmp: Path, clock: ManualClock, **settings: object) -> Site:
    """A site whose catalogue is a fresh SQLite file in ``tmp``."""
    base = Settings(
        database_url=f"sqlite:///{tmp}/catalogue.db",
        signed_url_secret=SECRET,
        catalogue_cache_seconds=CACHE,
    )
    config = replace(base, **settings)  # type: ignore[arg-type]
    storages = [create_storage(config, clock=clock, rng=random.Random(n)) for n in (1, 2)]
    admin_app = create_app(replace(config, admin_mode=True), storage=storages[0], clock=clock)
    public_app = create_app(replace(config, admin_mode=False), storage=storages[1], clock=clock)
    return Site(tmp, config, clock, Api(admin_app), Api(public_app), storages)


@pytest.fixture
def site(tmp_path: Path, clock: ManualClock) -> Iterator[Site]:
    made = build_site(tmp_path, clock)
    yield made
    for storage in made.storages:
        storage.close()


@pytest.fixture
def admin(site: Site) -> Api:
    """The admin app (noauth: every caller is an admin)."""
    return site.admin


def message_counts(url: str) -> dict[str, int]:
    """Raw per-queue message counts in the database at ``url``."""
    stmt = (
        sa.select(queues.c.name, sa.func.count(messages.c.id))
        .join(messages, messages.c.queue_id == queues.c.id)
        .group_by(queues.c.name)
    )
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("messages"):
                return {}
            return {name: int(n) for name, n in conn.execute(stmt)}
    finally:
        engine.dispose()
