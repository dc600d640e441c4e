"""A blob store costs small messages nothing: the same statements, on every backend.

Counted on the pool's connection (a ``before_cursor_execute`` listener, which
``hot.execute`` honours): posting, claiming and deleting small messages of a
queue without ``_blob_threshold`` sends exactly the statements it sends on a
service without a blob store, and deleting one of a routed queue's inline
messages too (its pointer, none, comes back in the same DELETE); only MySQL,
which has no ``DELETE ... RETURNING``, reads the pointer first.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.blobs import FileBlobStore
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.storage.helpers import CLIENT, PROJECT


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """The statements ``engine`` sends meanwhile (their SQL)."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _consumer_loop(driver: SqlDataDriver, queue: str) -> Callable[[], None]:
    def run() -> None:
        driver.messages.post(PROJECT, queue, [NewMessage({"n": 1})], CLIENT)
        ids = driver.messages.post(PROJECT, queue, [NewMessage({"n": i}) for i in range(3)], CLIENT)
        claim_id, found = driver.claims.create(PROJECT, queue, ttl=60, grace=60, limit=2)
        for message in found:
            driver.messages.delete(PROJECT, queue, message.id, claim_id)
        driver.messages.delete(PROJECT, queue, ids[2])
        driver.messages.bulk_delete(PROJECT, queue, ids[:2])

    return run


def _statements(engine: Engine, work: Callable[[], None]) -> int:
    """Statements of ``work`` on a fresh queue; the counters' shards (drawn at
    random, storage/sql/counters.py) drawn alike for every run."""
    random.seed(14)
    with counting(engine) as sent:
        work()
    return len(sent)


def test_small_messages_send_the_same_statements(
    engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    plain = SqlDataDriver(engine, clock=clock)
    routed = SqlDataDriver(
        engine, clock=clock, options=StorageOptions(blobs=FileBlobStore(str(tmp_path)))
    )
    for driver in (plain, routed):
        driver.queues.create(PROJECT, "warm")
        _consumer_loop(driver, "warm")()  # compiled, cached, queue created
    plain.queues.create(PROJECT, "a")
    routed.queues.create(PROJECT, "b")
    routed.queues.create(PROJECT, "c", {"_blob_threshold": 1024})
    baseline = _statements(engine, _consumer_loop(plain, "a"))
    assert _statements(engine, _consumer_loop(routed, "b")) == baseline
    extra = 3 if engine.dialect.name in ("mysql", "mariadb") else 0  # pointer reads, no RETURNING
    if engine.dialect.delete_returning:
        extra = 0
    assert _statements(engine, _consumer_loop(routed, "c")) == baseline + extra
