"""The control plane's contract: what the admin API and the CLI may ask of it.

The transport depends on these interfaces only; the implementations
(``control.admin``, ``control.pools``, ``control.flavors``) are wired by the
composition root (``bootstrap``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from sqlqueue.domain.models import CatalogueEntry, FlavorView, Health, Page, Pool
from sqlqueue.domain.moves import MoveResult
from sqlqueue.domain.overview import Overview

Pools = list[Pool]


class PoolService(abc.ABC):
    """Registering the databases queues are placed on."""

    @abc.abstractmethod
    def put(
        self,
        name: str,
        *,
        uri: str,
        weight: int,
        flavor: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Pool:
        """Register (or replace) pool ``name`` after checking its database.

        :raises ValidationFailed: a bad field, an unreachable database or a
            stale schema. :raises PoolAlreadyExists: another pool has ``uri``.
        :raises PoolHoldsQueues: ``name`` exists at another uri and holds queues.
        """

    @abc.abstractmethod
    def add(
        self,
        name: str,
        *,
        uri: str,
        weight: int,
        flavor: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> bool:
        """Register a new pool, or replace one registered at the same ``uri``; whether new.

        :raises PoolAlreadyExists: ``name`` is registered at another uri. Else as ``put``.
        """

    @abc.abstractmethod
    def update(self, name: str, fields: Mapping[str, Any]) -> Pool:
        """Change some of ``uri``, ``weight``, ``flavor``, ``options``; the pool after.

        :raises ValidationFailed: :raises PoolDoesNotExist: :raises PoolAlreadyExists:
        :raises PoolHoldsQueues: a new ``uri`` while the catalogue maps queues to it.
        """

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove a pool (silent if missing). :raises PoolInUse: it still holds queues."""

    @abc.abstractmethod
    def get(self, name: str) -> Pool:
        """:raises PoolDoesNotExist:"""

    @abc.abstractmethod
    def list(self, *, marker: str | None = None, limit: int | None = None) -> Page[Pool]:
        """Pools by name, after ``marker``."""

    @abc.abstractmethod
    def all(self) -> Pools:
        """Every registered pool, by name."""


class FlavorService(abc.ABC):
    """Named groups of pools that queues choose with ``_flavor``."""

    @abc.abstractmethod
    def put(
        self,
        project: str,
        name: str,
        pool_list: Sequence[str],
        capabilities: Mapping[str, Any] | None = None,
    ) -> FlavorView:
        """Create or replace a flavor made of ``pool_list``. :raises ValidationFailed:"""

    @abc.abstractmethod
    def update(
        self,
        project: str,
        name: str,
        pool_list: Sequence[str],
        capabilities: Mapping[str, Any] | None = None,
    ) -> FlavorView:
        """New pools for an existing flavor.

        :raises FlavorDoesNotExist: :raises ValidationFailed:
        """

    @abc.abstractmethod
    def get(self, project: str, name: str) -> FlavorView:
        """:raises FlavorDoesNotExist:"""

    @abc.abstractmethod
    def list(
        self, project: str, *, marker: str | None = None, limit: int | None = None
    ) -> Page[FlavorView]:
        """A project's flavors by name, after ``marker``."""

    @abc.abstractmethod
    def delete(self, project: str, name: str) -> None:
        """Delete (silent if missing)."""


class ControlPlaneService(abc.ABC):
    """Pools, flavors, placements and health, as operators use them."""

    pools: PoolService
    flavors: FlavorService

    @abc.abstractmethod
    def alive(self) -> bool:
        """Whether the catalogue and the default database answer (pools may not)."""

    @abc.abstractmethod
    def health(self) -> Health:
        """Reachability and message volume of every database."""

    @abc.abstractmethod
    def catalogue(
        self, project: str | None, *, marker: str | None = None, limit: int | None = None
    ) -> Page[CatalogueEntry]:
        """Placements of one project's queues (every project's when None)."""

    @abc.abstractmethod
    def catalogue_size(self) -> int:
        """How many queues the catalogue places on pools. :raises StorageUnavailable:"""

    @abc.abstractmethod
    def pools_up(self) -> dict[str, bool]:
        """Whether each registered pool's database answers, by pool name.

        :raises StorageUnavailable: the catalogue database does not answer.
        """

    @abc.abstractmethod
    def placement(self, project: str, queue: str) -> CatalogueEntry:
        """Where a queue lives. :raises QueueNotMapped: not on any pool."""

    @abc.abstractmethod
    def overview(self, limit: int) -> Overview:
        """The dashboard's snapshot: up to ``limit`` queues with their stats, every
        database's reachability and queue count, the flavors of known projects.

        :raises StorageUnavailable: the catalogue database does not answer.
        """

    @abc.abstractmethod
    def upgrade_pool(self, pool: Pool, revision: str = "head") -> str | None:
        """Migrate a pool's database; its revision after. :raises StorageUnavailable:"""

    @abc.abstractmethod
    def move_queue(self, project: str, queue: str, pool: str) -> MoveResult:
        """Move a live queue to ``pool`` (control/moves.py). :raises MoveRefused:"""

    @abc.abstractmethod
    def follow_flavor(self, project: str, queue: str, flavor: str | None) -> MoveResult | None:
        """Move the queue to a pool of ``flavor`` if its pool is not in it (None: stays).

        :raises MoveRefused:
        """
