"""A move killed with SIGKILL at each of its steps is completed or rolled back.

``sqlqueue queue move`` runs in a subprocess that kills itself (SIGKILL, no
clean-up of any kind) at the step named by ``SQLQUEUE_MOVE_CRASH_AT``; then
``sqlqueue queue move --resume`` resolves it, and the queue must be whole in
exactly one pool, the one the catalogue names, with its claim and
subscription working through the public API. Source PostgreSQL, target MySQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sqlqueue.bootstrap import Storage, create_app, create_storage
from sqlqueue.config import Settings
from sqlqueue.domain.moves import STEPS
from tests.admin.conftest import message_counts
from tests.admin.test_move_live import pool_url
from tests.conftest import ServerUrls
from tests.e2e.conftest import command
from tests.transport.conftest import Api

pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.mysql]

OUTCOME = {
    "journaled": "rolled back",
    "staged": "rolled back",
    "caught_up": "rolled back",
    "source_locked": "rolled back",
    "target_committed": "rolled back",
    "source_committed": "completed",
    "catalogued": "completed",
}
CACHE = "0.2"


def sqlqueue(
    catalogue: str, *args: str, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env["SQLQUEUE_CATALOGUE_CACHE_SECONDS"] = CACHE
    if crash_at:
        env["SQLQUEUE_MOVE_CRASH_AT"] = crash_at
    return subprocess.run(
        [*command(), *args, "--database-url", catalogue],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/catalogue.db",
        catalogue_cache_seconds=float(CACHE),
        signed_url_secret="s",
    )


@pytest.fixture
def storage(settings: Settings) -> Iterator[Storage]:
    made = create_storage(settings)
    yield made
    made.close()


def test_the_crash_hook_names_real_steps() -> None:
    assert set(OUTCOME) == set(STEPS)


@pytest.mark.parametrize("step", STEPS)
def test_a_move_killed_at_any_step_completes_or_rolls_back(
    step: str, settings: Settings, storage: Storage, server_urls: ServerUrls, tmp_path: Path
) -> None:
    urls = {
        "pg": pool_url(server_urls, tmp_path, "postgresql", "crash_pg"),
        "my": pool_url(server_urls, tmp_path, "mysql", "crash_my"),
    }
    storage.admin.pools.put("pg", uri=urls["pg"], weight=1)
    api = Api(create_app(replace(settings, admin_mode=False), storage=storage))
    messages = [{"body": n, "ttl": 3600} for n in range(20)]
    assert api.post("/v2/queues/jobs/messages", json={"messages": messages}).status_code == 201
    claimed = api.post("/v2/queues/jobs/claims?limit=5", json={"ttl": 300, "grace": 60})
    held = [m["href"] for m in claimed.json["messages"]]
    claim = held[0].rsplit("claim_id=", 1)[-1]
    hook = {"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600}
    assert api.post("/v2/queues/jobs/subscriptions", json=hook).status_code == 201
    storage.admin.pools.put("my", uri=urls["my"], weight=1)
    catalogue = settings.database_url

    killed = sqlqueue(catalogue, "queue", "move", "project-a", "jobs", "--to", "my", crash_at=step)
    resumed = sqlqueue(catalogue, "queue", "move", "--resume")

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert resumed.returncode == 0, resumed.stderr
    outcome = OUTCOME[step]
    assert resumed.stdout == f"interrupted move project-a/jobs: pg -> my {outcome}\n"
    home, away = ("my", "pg") if outcome == "completed" else ("pg", "my")
    assert storage.admin.placement("project-a", "jobs").pool == home
    assert message_counts(urls[home]) == {"jobs": 20}
    assert message_counts(urls[away]) == {}
    # Through the public API (its cached placement may name either pool).
    assert api.get(f"/v2/queues/jobs/claims/{claim}").status_code == 200
    assert api.delete(held[0]).status_code == 204
    free = api.get("/v2/queues/jobs/messages?echo=true").json["messages"]
    assert [m["body"] for m in free] == list(range(5, 15))
    subscribed = api.get("/v2/queues/jobs/subscriptions").json["subscriptions"]
    assert [s["subscriber"] for s in subscribed] == [hook["subscriber"]]
    # Nothing is left pending, and the queue moves on as usual.
    again = sqlqueue(catalogue, "queue", "move", "--resume").stdout
    assert again == "no interrupted move to resume\n"
    storage.store.invalidate()
    moved = storage.admin.moves.move("project-a", "jobs", away)
    assert moved.messages == 19
    assert message_counts(urls[away]) == {"jobs": 19}
    assert message_counts(urls[home]) == {}
