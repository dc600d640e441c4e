"""Flavors: named groups of pools that queues choose with ``_flavor`` metadata.

A flavor belongs to a project; its pools are the pools whose ``flavor`` is
its name. Its capabilities are not stored but derived from its pools (which
must all offer the same ones), so a flavor of non-FIFO pools says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlqueue import errors
from sqlqueue.control.base import FlavorService
from sqlqueue.control.pools import PoolAdmin, check_name
from sqlqueue.domain.models import Flavor, FlavorView, Page, Pool
from sqlqueue.storage.pooling import ControlPlane

logger = logging.getLogger(__name__)

Pools = list[Pool]
Names = list[str]


class FlavorAdmin(FlavorService):
    """Create, change, list and delete flavors, keeping the pools' ``flavor`` in step."""

    def __init__(self, control: ControlPlane, pools: PoolAdmin) -> None:
        self._control = control
        self._pools = pools

    def put(
        self,
        project: str,
        name: str,
        pool_list: Sequence[str],
        capabilities: Mapping[str, Any] | None = None,
    ) -> FlavorView:
        """Create or replace a flavor made of ``pool_list``.

        :raises ValidationFailed: no pools, an unknown pool, or pools with
            different capabilities.
        """
        check_name(name, "Flavor")
        members = self._members(pool_list)
        self._control.flavors.create(Flavor(name, project, dict(capabilities or {})))
        self._assign(name, members)
        logger.info("flavor %s of project %s: pools %s", name, project, ", ".join(pool_list))
        return self.get(project, name)

    def update(
        self,
        project: str,
        name: str,
        pool_list: Sequence[str],
        capabilities: Mapping[str, Any] | None = None,
    ) -> FlavorView:
        """Give an existing flavor a new pool list (and capabilities document).

        :raises FlavorDoesNotExist: :raises ValidationFailed:
        """
        stored = self._control.flavors.get(project, name)
        kept = stored.capabilities if capabilities is None else capabilities
        return self.put(project, name, pool_list, kept)

    def get(self, project: str, name: str) -> FlavorView:
        """:raises FlavorDoesNotExist:"""
        self._control.flavors.get(project, name)
        return self._view(project, name, self._pools.all())

    def list(
        self, project: str, *, marker: str | None = None, limit: int | None = None
    ) -> Page[FlavorView]:
        """A project's flavors by name, after ``marker``."""
        page = self._control.flavors.list(project, marker=marker, limit=limit)
        everyone = self._pools.all() if page.items else []
        views = [self._view(project, flavor.name, everyone) for flavor in page.items]
        return Page(views, page.next_marker)

    def delete(self, project: str, name: str) -> None:
        """Delete (silent if missing); its pools leave it once no project has it."""
        self._control.flavors.delete(project, name)
        self._pools.changed()

    def _members(self, pool_list: Sequence[str]) -> Pools:
        if not pool_list:
            raise errors.ValidationFailed("A flavor needs at least one pool (pool_list)")
        members = []
        for pool_name in dict.fromkeys(pool_list):
            try:
                members.append(self._pools.get(pool_name))
            except errors.PoolDoesNotExist as ex:
                raise errors.ValidationFailed(f"Pool {pool_name} does not exist") from ex
        offered: set[tuple[str, ...]] = {tuple(self._pools.capabilities(p)) for p in members}
        if len(offered) > 1:
            raise errors.ValidationFailed(
                "The pools of a flavor must offer the same capabilities: "
                + "; ".join(f"{p.name}: {', '.join(self._pools.capabilities(p))}" for p in members)
            )
        return members

    def _assign(self, name: str, members: Pools) -> None:
        """Make ``members`` exactly the pools of flavor ``name`` (leavers first)."""
        wanted = {pool.name for pool in members}
        for pool in self._pools.all():
            if pool.flavor == name and pool.name not in wanted:
                self._control.pools.update(pool.name, flavor=None)
        for pool in members:
            if pool.flavor != name:
                self._control.pools.update(pool.name, flavor=name)
        self._pools.changed()

    def _view(self, project: str, name: str, everyone: Pools) -> FlavorView:
        members = [pool for pool in everyone if pool.flavor == name]
        capabilities = self._pools.capabilities(members[0]) if members else []
        return FlavorView(name, project, [pool.name for pool in members], capabilities)
