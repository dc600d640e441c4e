"""Zaqar's ``_retry_policy``: which policy applies and the delays it gives.

A policy has four phases of retries after the first attempt: immediate
retries, retries after ``minimum_delay``, a backoff curve from
``minimum_delay`` towards ``maximum_delay``, and retries after
``maximum_delay`` (notifications.md §5). Delays are seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from sqlqueue.domain import policy

STEP = 5
"""Zaqar's fixed constant: the linear step and the divisor of the other curves."""
MAX_RETRIES = 1000
"""A policy never yields more retries than this (negative counts are zero)."""

DEFAULTS: dict[str, Any] = {
    "retries_with_no_delay": 3,
    "minimum_delay_retries": 3,
    "minimum_delay": 5,
    "maximum_delay": 30,
    "maximum_delay_retries": 3,
    "retry_backoff_function": "linear",
    "ignore_subscription_override": False,
}


def choose(
    subscription_options: Mapping[str, Any], queue_metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """The policy that applies, every absent key taking Zaqar's default.

    The queue's policy wins when either policy sets a truthy
    ``ignore_subscription_override``; otherwise the subscription's if it is
    non-empty, else the queue's. There is no per-key merge of the two.
    """
    own = _as_dict(subscription_options.get(policy.RETRY_POLICY))
    queue = _as_dict(queue_metadata.get(policy.RETRY_POLICY))
    if own.get("ignore_subscription_override") or queue.get("ignore_subscription_override"):
        chosen = queue
    else:
        chosen = own or queue
    return {**DEFAULTS, **chosen}


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _count(policy: Mapping[str, Any], key: str) -> int:
    try:
        return max(0, min(int(policy[key]), MAX_RETRIES))
    except (TypeError, ValueError, OverflowError):
        return int(DEFAULTS[key])


def _linear(low: int, high: int) -> list[float]:
    return [float(d) for d in range(low, high, STEP)]


def _geometric(low: int, high: int) -> list[float]:
    steps = (high - low) // STEP
    ratio = math.pow(10, math.log10(high / low) / (steps - 1))
    return [float(int(low * math.pow(ratio, i - 1))) for i in range(1, steps + 1)]


def _exponential(low: int, high: int) -> list[float]:
    steps = (high - low) // STEP
    ratio = math.pow(math.e, math.log(high / low) / (steps - 1))
    start = low / ratio
    return [float(int(start * math.pow(ratio, i))) for i in range(1, steps + 1)]


def _arithmetic(low: int, high: int) -> list[float]:
    steps = (high - low) // STEP
    diff = 2.0 * (high - low) / (steps * (steps - 1))
    return [float(int(low + (i - 1) * i * diff / 2)) for i in range(1, steps + 1)]


BACKOFF: dict[str, Callable[[int, int], list[float]]] = {
    "linear": _linear,
    "arithmetic": _arithmetic,
    "geometric": _geometric,
    "exponential": _exponential,
}


def backoff(policy: Mapping[str, Any]) -> list[float]:
    """Phase 3: the backoff curve's delays, as Zaqar computes them.

    Where Zaqar's arithmetic fails (``minimum_delay`` 0 for geometric and
    exponential, fewer than two steps), the curve is linear instead of
    Zaqar's silent end of all retries.
    """
    low, high = _count(policy, "minimum_delay"), _count(policy, "maximum_delay")
    shape = BACKOFF.get(str(policy.get("retry_backoff_function")), _linear)
    try:
        delays = shape(low, high)
    except (ZeroDivisionError, ValueError, OverflowError):
        delays = _linear(low, high)
    return [max(0.0, d) for d in delays[:MAX_RETRIES]]


def schedule(policy: Mapping[str, Any]) -> list[float]:
    """The delay before each retry, in order (its length is the number of retries)."""
    low, high = float(_count(policy, "minimum_delay")), float(_count(policy, "maximum_delay"))
    delays = [0.0] * _count(policy, "retries_with_no_delay")
    delays += [low] * _count(policy, "minimum_delay_retries")
    delays += backoff(policy)
    delays += [high] * _count(policy, "maximum_delay_retries")
    return delays[: MAX_RETRIES * 4]


def next_delay(policy: Mapping[str, Any], attempts: int) -> float | None:
    """Seconds to wait after failed attempt number ``attempts`` (1-based); None: give up."""
    delays = schedule(policy)
    return delays[attempts - 1] if 0 < attempts <= len(delays) else None
