"""Following a queue that moved to another pool: one retry point for every call.

A move (storage/sql/moves.py) leaves a tombstone in the source pool's
database, and every operation that meets it raises ``QueueMoved(pool, queue)``
inside its own transaction, which therefore rolls back having changed
nothing. A worker whose cached placement still names the old pool (for up
to ``catalogue_cache_seconds``) gets a ``FollowingDriver`` from the router;
its controllers run each call again on the pool the tombstone names, so no
caller, and no per-method code, has to know that queues move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from sqlqueue import errors
from sqlqueue.storage.base import (
    ClaimController,
    DataDriver,
    GcProgress,
    MessageController,
    QueueController,
    SubscriptionController,
)
from sqlqueue.storage.pooling.deadletters import send_across

if TYPE_CHECKING:
    from sqlqueue.storage.pooling.routing import Router

MAX_HOPS = 4
"""Tombstones followed by one call (a queue moved back and forth meanwhile)."""


class _Following:
    """A controller (``part`` of a driver) whose calls follow ``QueueMoved``."""

    def __init__(self, owner: FollowingDriver, part: str) -> None:
        self._owner = owner
        self._part = part

    def __getattr__(self, name: str) -> Any:
        found = getattr(getattr(self._owner.inner, self._part), name)
        if not callable(found):
            return found
        return self._follow(name)

    def _follow(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            for _ in range(MAX_HOPS):
                try:
                    return getattr(getattr(self._owner.inner, self._part), name)(*args, **kwargs)
                except errors.QueueMoved as moved:
                    self._owner.moved(moved)
                except errors.DeadLetterQueueAway as away:
                    self._owner.dead_letters_away(away)
            raise errors.StorageUnavailable("The queue is moving between pools; try again")

        return call


class FollowingDriver(DataDriver):
    """The driver of one queue's pool, following the queue if it has moved.

    Only the queue-scoped controllers follow; ``wakeups`` and ``deliveries``
    are the current pool's (a long-poll that started before a move waits on
    the old pool until it times out). For the default database (``pool``
    None) only claims are wrapped, for their dead letters: the other
    controllers are the database's own (no cost on the request path).
    """

    def __init__(
        self, router: Router, project: str, queue: str, pool: str | None, inner: DataDriver
    ) -> None:
        self.inner = inner
        self.pool = pool
        self._router = router
        self._key = (project, queue)
        if pool is None:  # the default database: queues never move out of it
            self.queues = inner.queues
            self.messages = inner.messages
            self.subscriptions = inner.subscriptions
        else:
            self.queues = cast(QueueController, _Following(self, "queues"))
            self.messages = cast(MessageController, _Following(self, "messages"))
            self.subscriptions = cast(SubscriptionController, _Following(self, "subscriptions"))
        self.wakeups = inner.wakeups
        self.deliveries = inner.deliveries

    def __getattr__(self, name: str) -> Any:
        """``claims``, made on first use (PERF: most requests never claim)."""
        if name != "claims":
            raise AttributeError(name)
        self.claims = cast(ClaimController, _Following(self, "claims"))
        return self.claims

    def unplaced(self) -> bool:
        """On the default database and not held there: a post may place the queue
        on a pool (one query of the default database while pools are registered)."""
        return self.pool is None and not self._router.kept_in_default(*self._key)

    def moved(self, moved: errors.QueueMoved) -> None:
        """Follow the queue to the pool it moved to (and remember it there).

        :raises QueueMoved: another queue moved (a dead-letter queue moved
            away from its source queue): not followed (a 503).
        """
        if moved.queue != self._key[1]:
            raise moved
        self.inner = self._router.moved(*self._key, moved.pool)
        self.pool = moved.pool

    def dead_letters_away(self, away: errors.DeadLetterQueueAway) -> None:
        """Make way for a claim whose dead-letter queue is not in this pool.

        Placed here but not created yet (or placed nowhere: it is placed
        here; for a queue of the default database, it stays unplaced there):
        create it here, so the claim dead-letters in one transaction.
        Elsewhere (or moved away from here): move the spent messages there
        (``send_across``).
        """
        project, queue = self._key
        pool = self._router.mapped_pool(project, away.queue)
        if pool is None and self.pool is not None:
            pool = self._router.place_in(project, away.queue, self.pool)
        if pool == self.pool:
            try:
                self.inner.queues.create(project, away.queue)
                return
            except errors.QueueMoved:
                pass  # it moved away (the placement was a cached one)
        send_across(self._router, self.inner, project, queue)

    def is_alive(self) -> bool:
        return self.inner.is_alive()

    def gc(self, progress: GcProgress | None = None) -> int:
        return self.inner.gc(progress)

    def gc_backlog(self) -> int:
        return self.inner.gc_backlog()

    def close(self) -> None:
        """Nothing: the router owns the pools' drivers."""
