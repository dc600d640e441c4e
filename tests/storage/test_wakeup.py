"""The in-process wake-ups of long-polls (storage/wakeup.py), with real threads.

A post of n messages wakes n claim waiters of its queue (the longest
waiting first) and every listing waiter; a wake-up is never lost, also when
it comes while the waiter is looking or when the woken waiter leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sqlqueue.storage.wakeup import Waiter, Waker

Q = ("p", "q")
SHORT = 0.3
"""Seconds a waiter that should stay asleep is given."""


@pytest.fixture
def waker() -> Iterator[Waker]:
    found = Waker()
    yield found
    found.close()


class Sleeper:
    """A thread that waits once on ``waiter``; ``woken`` is its wait's answer."""

    def __init__(self, waker: Waker, waiter: Waiter, timeout: float = SHORT) -> None:
        self.woken: bool | None = None
        self.took = 0.0

        def run() -> None:
            started = time.monotonic()
            self.woken = waker.wait(waiter, timeout)
            self.took = time.monotonic() - started

        self._thread = threading.Thread(target=run)
        self._thread.start()

    def join(self) -> bool | None:
        self._thread.join(timeout=10)
        return self.woken


def sleepers(waker: Waker, count: int, timeout: float = SHORT) -> list[Sleeper]:
    """``count`` claim waiters of Q waiting, in the order they joined."""
    found = []
    for _ in range(count):
        found.append(Sleeper(waker, waker.join(Q, consumes=True), timeout))
        time.sleep(0.01)
    time.sleep(0.05)  # all of them blocked by now
    return found


def test_one_post_wakes_one_claim_waiter_the_longest_waiting(waker: Waker) -> None:
    first, *rest = sleepers(waker, 4)
    waker.wake(Q, 1)
    assert [s.join() for s in (first, *rest)] == [True, False, False, False]


def test_a_post_of_n_messages_wakes_n_claim_waiters(waker: Waker) -> None:
    waiting = sleepers(waker, 4)
    waker.wake(Q, 3)
    assert [s.join() for s in waiting] == [True, True, True, False]


def test_a_post_wakes_every_lister(waker: Waker) -> None:
    listers = [Sleeper(waker, waker.join(Q, consumes=False)) for _ in range(3)]
    claimers = sleepers(waker, 2)
    waker.wake(Q, 1)
    assert [s.join() for s in listers] == [True, True, True]
    assert [s.join() for s in claimers] == [True, False]


def test_a_post_wakes_only_its_queue(waker: Waker) -> None:
    other = Sleeper(waker, waker.join(("p", "other"), consumes=True))
    waker.wake(Q, 5)
    assert other.join() is False


def test_a_post_while_the_waiter_looks_is_not_lost(waker: Waker) -> None:
    waiter = waker.join(Q, consumes=True)  # joined, now looking
    waker.wake(Q, 1)  # the post commits during the look
    started = time.monotonic()
    assert waker.wait(waiter, 5) is True
    assert time.monotonic() - started < 1


def test_a_woken_waiter_looks_again_armed(waker: Waker) -> None:
    waiter = waker.join(Q, consumes=True)
    waker.wake(Q, 1)
    assert waker.wait(waiter, 5) is True
    waker.wake(Q, 1)  # a second post during the second look
    assert waker.wait(waiter, 5) is True
    assert waker.wait(waiter, SHORT) is False  # nothing more


def test_a_woken_waiter_that_leaves_without_looking_wakes_the_next(waker: Waker) -> None:
    leaving = waker.join(Q, consumes=True)
    staying = sleepers(waker, 1)[0]
    waker.wake(Q, 1)  # goes to ``leaving``, the longest waiting
    waker.leave(leaving)  # its client left, or its wait ran out, before it looked
    assert staying.join() is True


def test_a_waiter_that_took_a_full_batch_wakes_the_next(waker: Waker) -> None:
    done = waker.join(Q, consumes=True)
    staying = sleepers(waker, 1)[0]
    waker.leave(done, more=True)
    assert staying.join() is True


def test_a_waiter_that_leaves_after_finding_little_wakes_nobody(waker: Waker) -> None:
    done = waker.join(Q, consumes=True)
    staying = sleepers(waker, 1)[0]
    waker.leave(done)
    assert staying.join() is False


def test_cancel_ends_one_wait_at_once(waker: Waker) -> None:
    leaving = waker.join(Q, consumes=True)
    gone = Sleeper(waker, leaving, timeout=10)
    staying = sleepers(waker, 1)[0]
    time.sleep(0.05)
    waker.cancel(leaving)
    assert gone.join() is False and gone.took < 2
    assert staying.join() is False  # nobody else was woken


def test_close_releases_every_waiter(waker: Waker) -> None:
    lister = Sleeper(waker, waker.join(Q, consumes=False), timeout=10)
    waiting = [*sleepers(waker, 3, timeout=10), lister]
    time.sleep(0.05)
    waker.close()
    assert [s.join() for s in waiting] == [False] * 4
    assert all(s.took < 2 for s in waiting)
    assert waker.wait(waker.join(Q, consumes=True), 10) is False  # later waits end at once


def test_counts_follow_joins_and_leaves(waker: Waker) -> None:
    a, b = waker.join(Q, consumes=True), waker.join(("p", "r"), consumes=False)
    assert waker.waiting() == 2 and sorted(waker.watched()) == [Q, ("p", "r")]
    waker.leave(a)
    waker.leave(b)
    assert waker.waiting() == 0 and waker.watched() == []
