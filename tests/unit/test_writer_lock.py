"""SQLite's in-process writer lock: turns in arrival order, re-entrant, bounded waits."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from sqlqueue.storage.sql import writers
from sqlqueue.storage.sql.engine import make_engine


def test_waiters_get_the_turn_in_the_order_they_came() -> None:
    lock = writers.WriterLock()
    assert lock.acquire(1)
    order: list[int] = []
    queued = threading.Semaphore(0)

    def writer(number: int) -> None:
        queued.release()
        assert lock.acquire(10)
        order.append(number)
        lock.release()

    threads = []
    for number in range(5):
        thread = threading.Thread(target=writer, args=(number,))
        thread.start()
        queued.acquire()
        while len(lock._waiters) <= number:  # in line before the next one starts
            threading.Event().wait(0.001)
        threads.append(thread)
    lock.release()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4]


def test_the_holder_may_take_it_again_and_a_waiter_gives_up_after_its_timeout() -> None:
    lock = writers.WriterLock()
    assert lock.acquire(1) and lock.acquire(1)
    lock.release()
    took: list[bool] = []
    other = threading.Thread(target=lambda: took.append(lock.acquire(0.05)))
    other.start()
    other.join()
    assert took == [False]
    lock.release()
    assert not lock._waiters  # the one that gave up left the line
    other = threading.Thread(target=lambda: took.append(lock.acquire(0.05)))
    other.start()
    other.join()
    assert took == [False, True]


def test_only_the_holder_releases() -> None:
    lock = writers.WriterLock()
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()


def test_one_lock_per_sqlite_file_and_none_for_servers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    first, second = make_engine(url), make_engine(url)
    other = make_engine(f"sqlite:///{tmp_path}/other.db")
    try:
        assert writers.lock_for(first) is writers.lock_for(second) is not None
        assert writers.lock_for(other) is not writers.lock_for(first)
        memory = make_engine("sqlite://")
        assert writers.lock_for(memory) is not writers.lock_for(make_engine("sqlite://"))
        assert writers.lock_for(make_engine("postgresql://u@h/d")) is None
    finally:
        for engine in (first, second, other):
            engine.dispose()


def test_a_forked_child_finds_the_lock_free(tmp_path: Path) -> None:
    lock = writers.lock_for(make_engine(f"sqlite:///{tmp_path}/q.db"))
    assert lock is not None and lock.acquire(1)
    child = os.fork()
    if child == 0:  # the child: the parent's holder did not come along
        os._exit(0 if lock.acquire(0.5) else 1)
    _, status = os.waitpid(child, 0)
    lock.release()
    assert os.waitstatus_to_exitcode(status) == 0
