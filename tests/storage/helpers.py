"""Small helpers shared by the storage contract tests."""

from __future__ import annotations

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import DataDriver

PROJECT = "project"
QUEUE = "test_queue"
CLIENT = "8f1e2d3c4b5a69788796a5b4c3d2e1f0"


def post(
    driver: DataDriver, count: int, *, queue: str = QUEUE, ttl: int | None = 120, **kw: object
) -> list[str]:
    """Post ``count`` messages with bodies {"n": i}; returns their ids."""
    batch = [NewMessage({"n": i}, ttl=ttl, **kw) for i in range(count)]  # type: ignore[arg-type]
    return driver.messages.post(PROJECT, queue, batch, CLIENT)
