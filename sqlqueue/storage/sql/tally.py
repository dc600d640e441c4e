"""Counting what a transaction did, once it committed.

A unit of work may run several times (``Database.run`` retries deadlocks)
or roll back, so it never increments a metric itself: it ``count``s on its
connection, and ``Database`` ``settle``s after the transaction: the counts
of a committed attempt reach the metrics, those of a failed one are dropped.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.engine import Connection

_KEY = "sqlqueue.tally"


class Countable(Protocol):
    """A Prometheus counter (``observe.metrics``)."""

    def inc(self, amount: float = 1) -> None:
        """Add ``amount``."""


def count(conn: Connection, counter: Countable, amount: int) -> None:
    """Add ``amount`` to ``counter`` when the transaction running on ``conn`` commits."""
    if amount:
        conn.info.setdefault(_KEY, []).append((counter, amount))


def settle(conn: Connection, committed: bool) -> None:
    """Apply (``committed``) or drop the counts made on ``conn`` since the last settle."""
    pending = conn.info.pop(_KEY, None)
    if pending and committed:
        for counter, amount in pending:
            counter.inc(amount)
