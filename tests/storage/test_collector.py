"""The expiry collector: small batches, every expired row, nothing live."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql.collector import BATCH_SECONDS, MIN_BATCH, next_size, pause
from sqlqueue.storage.sql.driver import SqlDataDriver


def test_batches_aim_at_a_short_transaction() -> None:
    assert next_size(1000, BATCH_SECONDS * 4, 1000) == 500  # slow: halved at most
    assert next_size(100, BATCH_SECONDS / 10, 1000) == 200  # fast: doubled at most
    assert next_size(800, BATCH_SECONDS / 10, 1000) == 1000  # never past gc_batch
    assert next_size(MIN_BATCH, 10.0, 1000) == MIN_BATCH
    assert next_size(10, BATCH_SECONDS / 10, 10) == 10  # gc_batch below MIN_BATCH wins
    assert next_size(400, BATCH_SECONDS, 1000) == 400


def test_the_rate_cap_sleeps_only_when_the_pass_is_ahead_of_it() -> None:
    assert pause(1000, 0.25, 2000) == 0.25  # 1,000 rows at 2,000 a second take 0.5 s
    assert pause(1000, 0.75, 2000) == 0.0  # already behind: no sleep
    assert pause(10**6, 0.1, 0) == 0.0  # 0: no cap


def test_a_capped_collector_still_takes_every_expired_row(
    engine: Engine, clock: ManualClock
) -> None:
    options = StorageOptions(gc_batch=25, gc_rate=2000)  # 100 rows: 0.05 s of sleeps
    driver = SqlDataDriver(engine, clock=clock, options=options)
    driver.queues.create("p", "a")
    driver.messages.post("p", "a", [NewMessage({"n": 1}, ttl=60)] * 100, "c")
    driver.messages.post("p", "a", [NewMessage({"n": 2}, ttl=3600)] * 5, "c")
    clock.advance(100)
    assert driver.gc() == 100
    assert driver.queues.stats("p", "a").total == 5


def test_gc_in_many_small_batches_takes_every_expired_row_and_no_live_one(
    engine: Engine, clock: ManualClock
) -> None:
    driver = SqlDataDriver(engine, clock=clock, options=StorageOptions(gc_batch=25))
    for name in ("a", "b"):
        driver.queues.create("p", name)
        for ttl in (60, 61, 62, 3600):  # several expiry times: the keyset moves on
            driver.messages.post("p", name, [NewMessage({"n": 1}, ttl=ttl)] * 40, "c")
    clock.advance(100)
    driver.messages.post("p", "a", [NewMessage({"n": 2}, ttl=60)] * 10, "c")

    assert driver.gc() == 2 * 120
    assert driver.gc() == 0
    assert (driver.queues.stats("p", "a").total, driver.queues.stats("p", "b").total) == (50, 40)
    assert {m.body["n"] for m in driver.messages.list("p", "a", limit=100).items} == {1, 2}
