"""Moving queues between pools, and draining a pool, as operators ask for it.

The moving itself is the storage's (``QueueMover``, implemented by
``storage/sql/moves.py`` and injected by ``bootstrap``); this module picks
the pools, checks the request and resolves interrupted moves first.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Protocol

from sqlqueue import errors
from sqlqueue.control.pools import AdminControl, PoolAdmin
from sqlqueue.domain.models import CatalogueEntry, Pool
from sqlqueue.domain.moves import MoveResult
from sqlqueue.storage.pooling import weighted_choice

logger = logging.getLogger(__name__)

PAGE = 100
Progress = Callable[[MoveResult, int, int], None]
"""Told of each queue a drain moved: (result, queues done, queues in all)."""


class QueueMover(Protocol):
    """Moves one queue between pool databases (storage/sql/moves.py)."""

    def move(self, project: str, queue: str, source: str, target: str) -> MoveResult: ...

    def resume(self) -> list[MoveResult]: ...

    def adopt(self, pool: str) -> None:
        """Give a newly registered pool its own range of message ids."""


class MoveAdmin:
    """``queue move`` and ``pool drain``: check, pick pools, move, forget cached placements."""

    def __init__(
        self,
        control: AdminControl,
        pools: PoolAdmin,
        mover: QueueMover,
        rng: random.Random | None = None,
        unplaced_exists: Callable[[str, str], bool] = lambda project, queue: True,
    ) -> None:
        """``unplaced_exists(project, queue)``: whether a queue the catalogue maps
        to no pool exists (in the catalogue database)."""
        self._control = control
        self._pools = pools
        self._mover = mover
        self._unplaced_exists = unplaced_exists
        self._rng = rng or random.Random()

    def resume(self) -> list[MoveResult]:
        """Complete or roll back every move a crash interrupted."""
        done = self._mover.resume()
        if done:
            self._pools.changed()
        return done

    def move(self, project: str, queue: str, pool: str) -> MoveResult:
        """Move a placed queue to ``pool`` (interrupted moves are resolved first).

        :raises PoolDoesNotExist: :raises QueueDoesNotExist: :raises MoveRefused:
            the queue is on no pool (it lives in the catalogue database), or
            already in ``pool``, or ``pool`` holds a queue of that name or its
            message ids.
        """
        self.resume()
        target = self._pools.get(pool)
        try:
            entry = self._control.catalogue.get(project, queue)
        except errors.QueueNotMapped as ex:
            if not self._unplaced_exists(project, queue):
                raise errors.QueueDoesNotExist(f"Queue {queue} does not exist.") from ex
            raise errors.MoveRefused(
                f"Queue {queue} of project {project} is on no pool: only pooled queues move"
            ) from ex
        try:
            return self._mover.move(project, queue, entry.pool, target.name)
        finally:
            self._pools.changed()

    def follow_flavor(self, project: str, queue: str, flavor: str | None) -> MoveResult | None:
        """Move a pooled queue whose ``_flavor`` became one its pool is not in.

        The target is drawn by weight among the flavor's pools with a weight
        above 0. Nothing moves (None) when ``flavor`` is None, the queue lives
        in the catalogue database (on no pool), its pool is already in the
        flavor, or the flavor has no pool to take it.
        :raises MoveRefused: as ``move``.
        """
        if flavor is None:
            return None
        try:
            entry = self._control.catalogue.get(project, queue)
        except errors.QueueNotMapped:
            return None
        members = [p for p in self._pools.all() if p.flavor == flavor and p.weight > 0]
        if not members or entry.pool in {p.name for p in members}:
            return None
        target = weighted_choice(members, self._rng)
        assert target is not None  # members all have weight > 0
        return self.move(project, queue, target.name)

    def drain(self, pool: str, progress: Progress | None = None) -> list[MoveResult]:
        """Move every queue off ``pool``, after setting its weight to 0 (no new queue lands).

        Each queue goes to a pool of the same flavor (any other pool when
        none is), drawn by weight. Refused before anything changes when the
        pool holds queues and no other pool can take them.
        :raises PoolDoesNotExist: :raises MoveRefused: no other pool with a
        weight above 0.
        """
        self.resume()
        source = self._pools.get(pool)
        if not self._targets(source) and self._entries(pool):
            raise errors.MoveRefused(self._nowhere(pool))
        if source.weight > 0:
            self._pools.update(pool, {"weight": 0})
        entries = self._entries(pool)
        targets = self._targets(source)
        if entries and not targets:  # the other pools went to weight 0 meanwhile
            raise errors.MoveRefused(self._nowhere(pool))
        done: list[MoveResult] = []
        for entry in entries:
            target = weighted_choice(targets, self._rng)
            assert target is not None  # targets all have weight > 0
            done.append(self._mover.move(entry.project, entry.queue, pool, target.name))
            self._pools.changed()
            if progress is not None:
                progress(done[-1], len(done), len(entries))
        return done

    @staticmethod
    def _nowhere(pool: str) -> str:
        return (
            f"No other pool with a weight above 0 to drain {pool} into; nothing was changed. "
            "Add a pool (`sqlqueue pool add`) or give one a weight first"
        )

    def _entries(self, pool: str) -> list[CatalogueEntry]:
        found: list[CatalogueEntry] = []
        marker = None
        while True:
            page = self._control.catalogue.list(None, marker=marker, limit=PAGE)
            found += [entry for entry in page.items if entry.pool == pool]
            if len(page.items) < PAGE:
                return found
            marker = page.next_marker

    def _targets(self, source: Pool) -> list[Pool]:
        others = [p for p in self._pools.all() if p.name != source.name and p.weight > 0]
        return [p for p in others if p.flavor == source.flavor] or others
