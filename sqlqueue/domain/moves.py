"""What a queue move reports (storage/sql/moves.py does the moving)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STEPS = (
    "journaled",
    "staged",
    "caught_up",
    "source_locked",
    "target_committed",
    "source_committed",
    "catalogued",
)
"""The points of a move, in order, at which a step hook is called (tests stop there)."""

StepHook = Callable[[str], None]
"""Called with each step's name as a move passes it."""


@dataclass(frozen=True)
class MoveResult:
    """One queue move, done or resolved after an interruption.

    ``outcome``: "moved" (by this call), "completed" or "rolled back" (an
    interrupted move resolved by ``resume``). ``pause_ms``: how long the
    queue's writers were held (its row and message rows locked in the source
    pool), in milliseconds; 0 for a resolved move.
    """

    project: str
    queue: str
    source: str
    target: str
    outcome: str
    messages: int = 0
    pause_ms: float = 0.0


@dataclass(frozen=True)
class DeadLetters:
    """Messages claimed too often, held (under claim ``claim_id``) on their way
    to dead-letter queue ``queue`` in another pool.

    ``messages``: (message id, body, ttl in seconds to post it with, whether
    its stored body was sealed: it stays sealed in the dead-letter queue).
    """

    queue: str
    claim_id: str
    messages: list[tuple[str, Any, int, bool]]


@dataclass(frozen=True)
class Tombstone:
    """What a moved queue leaves in the pool it left: ``queue`` of ``project``
    went to pool ``pool``; ``since`` (ms) is when the catalogue was pointed
    there (the move's end)."""

    project: str
    queue: str
    pool: str
    since: int
