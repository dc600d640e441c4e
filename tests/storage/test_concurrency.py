"""Real concurrency on every backend: threads that run at once.

* 8 producers and 8 consumers on one queue: every message is consumed
  exactly once, none is handed to two live claims, and each id a producer
  got back is its own message (the 2014 driver returned other producers').
* 8 producers and an observer paging by marker: the observer sees every
  message exactly once, in marker order (markers follow commit order), and
  each producer's messages keep their order.
* concurrent pops never return one message twice.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from sqlqueue.domain.models import Message, NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.storage.helpers import PROJECT, QUEUE
from tests.threads import run_threads

pytestmark = pytest.mark.slow

PRODUCERS = 8
CONSUMERS = 8
PER_PRODUCER = 40


def producer(driver: SqlDataDriver, number: int, posted: dict[str, Any]) -> Callable[[], None]:
    """Posts PER_PRODUCER messages in batches of 1 to 3, remembering their ids."""
    rng = random.Random(number)

    def run() -> None:
        seq = 0
        while seq < PER_PRODUCER:
            size = min(rng.randint(1, 3), PER_PRODUCER - seq)
            bodies = [{"p": number, "seq": seq + i} for i in range(size)]
            ids = driver.messages.post(
                PROJECT, QUEUE, [NewMessage(b, ttl=600) for b in bodies], f"client-{number}"
            )
            posted.update(zip(ids, bodies, strict=True))
            seq += size

    return run


@pytest.fixture
def live_driver(engine: Engine) -> SqlDataDriver:
    """A driver on the real clock, for threads."""
    return SqlDataDriver(engine)


def test_producers_and_consumers(live_driver: SqlDataDriver) -> None:
    posted: dict[str, Any] = {}
    handed: list[Message] = []
    done = threading.Event()

    def consumer() -> None:
        idle = 0
        while idle < 3:
            claim_id, claimed = live_driver.claims.create(
                PROJECT, QUEUE, ttl=120, grace=60, limit=5
            )
            if not claimed:
                idle = idle + 1 if done.is_set() else 0
                time.sleep(0.01)
                continue
            handed.extend(claimed)
            for message in claimed:
                live_driver.messages.delete(PROJECT, QUEUE, message.id, claim_id=claim_id)

    producers = [producer(live_driver, n, posted) for n in range(PRODUCERS)]

    def producers_then_done() -> None:
        run_threads(producers)
        done.set()

    run_threads([producers_then_done] + [consumer] * CONSUMERS)
    assert len(posted) == PRODUCERS * PER_PRODUCER
    counts = Counter(m.id for m in handed)
    assert not [mid for mid, n in counts.items() if n > 1], "a message was handed out twice"
    assert set(counts) == set(posted), "a message was lost"
    assert all(m.body == posted[m.id] for m in handed), "an id pointed at another message"
    assert live_driver.queues.stats(PROJECT, QUEUE).total == 0


def test_observer_sees_every_message_once_in_order(live_driver: SqlDataDriver) -> None:
    posted: dict[str, Any] = {}
    seen: list[Message] = []
    done = threading.Event()

    def observer() -> None:
        marker = None
        while True:
            finished = done.is_set()
            page = live_driver.messages.list(PROJECT, QUEUE, marker=marker, limit=20, echo=True)
            seen.extend(page.items)
            marker = page.next_marker or marker
            if finished and not page.items:
                return
            if not page.items:
                time.sleep(0.005)

    producers = [producer(live_driver, n, posted) for n in range(PRODUCERS)]

    def producers_then_done() -> None:
        run_threads(producers)
        done.set()

    run_threads([producers_then_done, observer])
    markers = [m.marker for m in seen]
    assert markers == sorted(markers) and len(set(markers)) == len(markers)
    assert Counter(m.id for m in seen) == Counter(list(posted)), "the observer skipped or repeated"
    for number in range(PRODUCERS):
        own = [m.body["seq"] for m in seen if m.body["p"] == number]
        assert own == list(range(PER_PRODUCER)), f"producer {number} lost its order"


def test_concurrent_pops_never_share(live_driver: SqlDataDriver) -> None:
    total = 200
    for start in range(0, total, 20):
        batch = [NewMessage({"n": n}) for n in range(start, start + 20)]
        live_driver.messages.post(PROJECT, QUEUE, batch, "c")
    popped: list[Message] = []

    def popper() -> None:
        while batch := live_driver.messages.pop(PROJECT, QUEUE, 3):
            popped.extend(batch)

    run_threads([popper] * 6)
    assert sorted(m.body["n"] for m in popped) == list(range(total))


def test_concurrent_queue_creation_and_first_post(live_driver: SqlDataDriver) -> None:
    created: list[bool] = []

    def racer() -> None:
        created.append(live_driver.queues.create(PROJECT, "race"))
        live_driver.messages.post(PROJECT, "lazy", [NewMessage("x")], "c")

    run_threads([racer] * 8)
    assert created.count(True) == 1
    assert live_driver.queues.stats(PROJECT, "lazy").total == 8


def test_gc_from_many_workers_at_once(engine: Engine) -> None:
    from sqlqueue.domain.clock import ManualClock

    clock = ManualClock()
    driver = SqlDataDriver(engine, clock=clock)
    for start in range(0, 300, 50):
        batch = [NewMessage({"n": n}, ttl=60) for n in range(start, start + 50)]
        driver.messages.post(PROJECT, QUEUE, batch, "c")
    [keeper] = driver.messages.post(PROJECT, QUEUE, [NewMessage("keep", ttl=600)], "c")
    clock.advance(61)
    removed: list[int] = []
    run_threads([lambda: removed.append(driver.gc())] * 4)
    assert sum(removed) == 300
    assert [m.id for m in driver.messages.list(PROJECT, QUEUE, echo=True).items] == [keeper]
