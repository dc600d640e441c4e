"""Zaqar's _retry_policy: which policy applies and the schedule it gives (notifications.md §5)."""

from __future__ import annotations

import pytest

from sqlqueue.notify import policy

DEFAULTS = policy.DEFAULTS


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("linear", [5, 10, 15, 20, 25]),
        ("arithmetic", [5, 7, 12, 20, 30]),
        ("geometric", [5, 7, 12, 19, 30]),
        ("exponential", [5, 7, 12, 19, 30]),
    ],
)
def test_backoff_curves_with_the_defaults(shape: str, expected: list[int]) -> None:
    assert policy.backoff({**DEFAULTS, "retry_backoff_function": shape}) == expected


@pytest.mark.parametrize("shape", ["linear", "arithmetic", "geometric", "exponential"])
def test_eighteen_steps_from_10_to_100(shape: str) -> None:
    chosen = {**DEFAULTS, "retry_backoff_function": shape, "minimum_delay": 10}
    assert len(policy.backoff({**chosen, "maximum_delay": 100})) == 18


def test_default_schedule_is_15_attempts_over_180_s() -> None:
    delays = policy.schedule(DEFAULTS)
    assert delays == [0, 0, 0, 5, 5, 5, 5, 10, 15, 20, 25, 30, 30, 30]
    assert (len(delays) + 1, sum(delays)) == (15, 180)


def test_observed_zaqar_timings() -> None:
    """Policy (2, 1, 1 s, 11 s, 1, linear): attempts at t, t, t, t+1, t+2, t+8, t+19."""
    chosen = policy.choose(
        {
            "_retry_policy": {
                "retries_with_no_delay": 2,
                "minimum_delay_retries": 1,
                "minimum_delay": 1,
                "maximum_delay": 11,
                "maximum_delay_retries": 1,
            }
        },
        {},
    )
    at, times = 0.0, [0.0]
    attempt = 1
    while (delay := policy.next_delay(chosen, attempt)) is not None:
        at += delay
        times.append(at)
        attempt += 1
    assert times == [0, 0, 0, 1, 2, 8, 19]


def test_which_policy_applies() -> None:
    own = {"_retry_policy": {"minimum_delay": 7}}
    queue = {"_retry_policy": {"maximum_delay": 50}}
    assert policy.choose(own, queue) == {**DEFAULTS, "minimum_delay": 7}  # no per-key merge
    assert policy.choose({}, queue) == {**DEFAULTS, "maximum_delay": 50}
    assert policy.choose({}, {}) == DEFAULTS
    forced = {"_retry_policy": {"maximum_delay": 50, "ignore_subscription_override": True}}
    assert policy.choose(own, forced)["minimum_delay"] == 5
    asks = {"_retry_policy": {"minimum_delay": 7, "ignore_subscription_override": True}}
    assert policy.choose(asks, {}) == DEFAULTS  # the (empty) queue policy wins


def test_broken_curves_fall_back_to_linear_and_stay_bounded() -> None:
    zero = {**DEFAULTS, "minimum_delay": 0, "maximum_delay": 10}
    assert policy.backoff({**zero, "retry_backoff_function": "geometric"}) == [0, 5]
    huge = {**DEFAULTS, "retries_with_no_delay": 10**9, "minimum_delay": -3}
    assert len(policy.schedule(huge)) <= 4 * policy.MAX_RETRIES
    assert min(policy.schedule(huge)) == 0
    assert policy.next_delay(DEFAULTS, 15) is None
