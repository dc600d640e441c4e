"""Stats stay exact under real concurrency, on every backend.

8 producers post (some messages with a 1 s TTL) while 8 consumers claim,
delete with their claim, bulk delete, pop, release or keep their claims,
and a collector runs gc. Once every thread has stopped and the short-lived
messages have expired, stats must equal what the table holds, counted
row by row, and what the threads did.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.tables import messages, queues
from tests.storage.helpers import PROJECT, QUEUE
from tests.threads import run_threads

pytestmark = pytest.mark.slow

PRODUCERS = 8
CONSUMERS = 8
POSTS = 30
ROUNDS = 12


@pytest.fixture
def live_driver(engine: Engine) -> SqlDataDriver:
    """A driver on the real clock, for threads."""
    return SqlDataDriver(engine)


def producer(driver: SqlDataDriver, number: int) -> Callable[[], None]:
    """POSTS posts of 1 to 3 messages; every fifth post lives one second."""
    rng = random.Random(number)

    def run() -> None:
        for seq in range(POSTS):
            ttl = 1 if seq % 5 == 0 else 600
            batch = [NewMessage({"p": number, "s": seq}, ttl=ttl)] * rng.randint(1, 3)
            driver.messages.post(PROJECT, QUEUE, batch, f"producer-{number}")

    return run


def consumer(driver: SqlDataDriver, number: int) -> Callable[[], None]:
    """ROUNDS claims, each consumed a different way; some claims are kept."""
    rng = random.Random(100 + number)
    m, c = driver.messages, driver.claims

    def run() -> None:
        for _ in range(ROUNDS):
            claim_id, taken = c.create(PROJECT, QUEUE, ttl=120, grace=60, limit=rng.randint(1, 5))
            if claim_id is None:
                m.pop(PROJECT, QUEUE, 1)
                continue
            ids = [msg.id for msg in taken]
            m.delete(PROJECT, QUEUE, ids[0], claim_id=claim_id)
            m.bulk_delete(PROJECT, QUEUE, ids[1:3], claim_ids=[claim_id])
            choice = rng.random()
            if choice < 0.3:
                c.delete(PROJECT, QUEUE, claim_id)
            elif choice < 0.5:
                m.bulk_delete(PROJECT, QUEUE, ids[3:])  # by id, ignoring the claim
            if rng.random() < 0.3:
                m.pop(PROJECT, QUEUE, rng.randint(1, 2))

    return run


def collector(driver: SqlDataDriver, stop: Callable[[], bool]) -> Callable[[], None]:
    def run() -> None:
        while not stop():
            driver.gc()
            time.sleep(0.05)

    return run


def table_counts(engine: Engine, now: int) -> tuple[int, int, int]:
    """(free, claimed, total) of the queue, counted row by row."""
    live = sa.and_(
        messages.c.queue_id == queues.c.id,
        queues.c.project == PROJECT,
        queues.c.name == QUEUE,
        messages.c.expires_at > now,
    )
    claimed = sa.func.sum(sa.case((messages.c.claim_expires > now, 1), else_=0))
    with engine.connect() as conn:
        total, n_claimed = conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(claimed, 0)).where(live)
        ).one()
    return int(total) - int(n_claimed), int(n_claimed), int(total)


def test_stats_exact_after_producers_consumers_and_gc(live_driver: SqlDataDriver) -> None:
    live_driver.queues.create(PROJECT, QUEUE)
    workers = [producer(live_driver, n) for n in range(PRODUCERS)]
    workers += [consumer(live_driver, n) for n in range(CONSUMERS)]
    finished: list[bool] = []

    def workers_then_flag() -> None:
        run_threads(workers)
        finished.append(True)

    run_threads([workers_then_flag, collector(live_driver, lambda: bool(finished))])
    time.sleep(1.2)  # every one-second message has expired, collected or not
    # However the threads raced, leave free and claimed messages behind too.
    live_driver.messages.post(PROJECT, QUEUE, [NewMessage({"n": i}) for i in range(5)], "last")
    live_driver.claims.create(PROJECT, QUEUE, ttl=120, grace=60, limit=2)
    stats = live_driver.queues.stats(PROJECT, QUEUE)
    expected = table_counts(live_driver.engine, live_driver.db.now_ms())
    assert (stats.free, stats.claimed, stats.total) == expected
    assert expected[1] > 0 and expected[0] > 0
    live_driver.gc()
    stats = live_driver.queues.stats(PROJECT, QUEUE)
    assert (stats.free, stats.claimed, stats.total) == expected
    with live_driver.engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar_one()
    assert rows == expected[2]  # gc removed exactly the expired rows
