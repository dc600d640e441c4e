"""Registering pools: the one code path behind the admin API and ``sqlqueue pool``.

A pool is checked before it is stored: its name, weight and options; its
URI must name a backend we run on; its database must answer and carry the
current schema (an empty database is migrated here). What only the database
layer can check comes in through ``PoolDatabases``, so this module stays
free of SQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlqueue import errors
from sqlqueue.control.base import PoolService
from sqlqueue.domain.models import Page, Pool, QueueStats
from sqlqueue.storage.base import DataDriver
from sqlqueue.storage.pooling import ControlPlane

logger = logging.getLogger(__name__)

Pools = list[Pool]
Names = list[str]

NAME = re.compile(r"[a-zA-Z0-9_\-.]{1,64}")
MAX_URI = 255
MAX_WEIGHT = 2**32 - 1
OPTIONS: dict[str, type] = {"fifo": bool, "persist": bool}
"""Pool options sqlqueue understands, with their types."""
FIELDS = ("uri", "weight", "flavor", "options")
PAGE = 100


class AdminControl(ControlPlane, Protocol):
    """A control driver that can also tell whether its database answers."""

    def is_alive(self) -> bool: ...


class PoolDatabases(Protocol):
    """What only the database layer knows about a pool's database."""

    def capabilities(self, pool: Pool) -> Names:
        """Capability names. :raises ValidationFailed: the URI names no backend we run on."""
        ...

    def prepare(self, uri: str) -> None:
        """Check it answers and has the current schema (migrate an empty one).

        :raises ValidationFailed:
        """
        ...

    def upgrade(self, uri: str, revision: str = "head") -> str | None:
        """Migrate to ``revision``; the revision after."""
        ...

    def volume(self, driver: DataDriver) -> QueueStats | None:
        """Live message counts of a pool's data driver, if it can tell."""
        ...


def check_name(name: str, what: str = "Pool") -> str:
    """A pool or flavor name: 1 to 64 of ``a-z A-Z 0-9 _ - .``."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise errors.ValidationFailed(
            f"{what} names are 1 to 64 letters, digits, '_', '-' or '.': {name!r}"
        )
    return name


def check_options(options: Any) -> dict[str, Any]:
    """Pool options: only known keys, of the right types."""
    if not isinstance(options, Mapping):
        raise errors.ValidationFailed("Pool options must be an object")
    for key, value in options.items():
        kind = OPTIONS.get(key)
        if kind is None:
            known = ", ".join(sorted(OPTIONS))
            raise errors.ValidationFailed(f"Unknown pool option {key!r} (known: {known})")
        if not isinstance(value, kind):
            raise errors.ValidationFailed(f"Pool option {key!r} must be a {kind.__name__}")
    return dict(options)


def _check_field(key: str, value: Any) -> Any:
    if key == "uri":
        if not isinstance(value, str) or not 0 < len(value) <= MAX_URI:
            raise errors.ValidationFailed(f"A pool uri is a string of 1 to {MAX_URI} characters")
        return value
    if key == "weight":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WEIGHT:
            raise errors.ValidationFailed(f"A pool weight is an integer in 0..{MAX_WEIGHT}")
        return value
    if key == "flavor":
        return None if value is None else check_name(value, "Flavor")
    if key == "options":
        return check_options(value)
    raise errors.ValidationFailed(f"Unknown pool field {key!r} (known: {', '.join(FIELDS)})")


class PoolAdmin(PoolService):
    """Add, change, list and remove pools; the pooled driver is told of every change."""

    def __init__(
        self,
        control: ControlPlane,
        databases: PoolDatabases,
        invalidate: Callable[[], None],
        registered: Callable[[str], None] | None = None,
    ) -> None:
        self._control = control
        self._databases = databases
        self._invalidate = invalidate
        self._registered = registered or (lambda name: None)

    def put(
        self,
        name: str,
        *,
        uri: str,
        weight: int,
        flavor: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Pool:
        """Register (or replace) pool ``name`` (Zaqar's PUT).

        :raises ValidationFailed: a bad field, an unreachable database or a
            stale schema. :raises PoolAlreadyExists: another pool has ``uri``.
        :raises PoolHoldsQueues: ``name`` exists at another uri and holds queues.
        """
        fields = {"uri": uri, "weight": weight, "flavor": flavor, "options": options or {}}
        pool = Pool(check_name(name), **{k: _check_field(k, v) for k, v in fields.items()})
        self._databases.capabilities(pool)
        self._databases.prepare(pool.uri)
        self._control.pools.create(pool)
        self._invalidate()
        self._registered(pool.name)
        logger.info("registered pool %s (weight %d, flavor %s)", name, weight, flavor)
        return pool

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

        :raises PoolAlreadyExists: ``name`` is registered at another uri (or
            another pool has ``uri``). Else as ``put``.
        """
        try:
            current = self._control.pools.get(name)
        except errors.PoolDoesNotExist:
            current = None
        if current is not None and current.uri != uri:
            raise errors.PoolAlreadyExists(
                f"Pool {name} already exists at another database. To change its weight or "
                f"flavor, give its current URL: `sqlqueue pool add {name} URL --weight N "
                f"--flavor F`; to point it elsewhere, `sqlqueue pool drain {name}` and "
                f"`sqlqueue pool remove {name}` first"
            )
        self.put(name, uri=uri, weight=weight, flavor=flavor, options=options)
        return current is None

    def update(self, name: str, fields: Mapping[str, Any]) -> Pool:
        """Change some of ``uri``, ``weight``, ``flavor``, ``options``; the pool after.

        :raises ValidationFailed: :raises PoolDoesNotExist: :raises PoolAlreadyExists:
        :raises PoolHoldsQueues: a new ``uri`` while the catalogue maps queues to it.
        """
        if not fields:
            raise errors.ValidationFailed(f"Give at least one of {', '.join(FIELDS)}")
        changes = {key: _check_field(key, value) for key, value in fields.items()}
        current = self._control.pools.get(name)
        if "uri" in changes or "options" in changes:
            merged = Pool(
                name,
                changes.get("uri", current.uri),
                current.weight,
                options=changes.get("options", current.options),
            )
            self._databases.capabilities(merged)
        if "uri" in changes and changes["uri"] != current.uri:
            self._databases.prepare(changes["uri"])
        self._control.pools.update(name, **changes)
        self._invalidate()
        logger.info("updated pool %s: %s", name, ", ".join(sorted(changes)))
        return self._control.pools.get(name)

    def delete(self, name: str) -> None:
        """Remove a pool (silent if missing). :raises PoolInUse: it still holds queues."""
        self._control.pools.delete(name)
        self._invalidate()

    def get(self, name: str) -> Pool:
        """:raises PoolDoesNotExist:"""
        return self._control.pools.get(name)

    def list(self, *, marker: str | None = None, limit: int | None = None) -> Page[Pool]:
        """Pools by name, after ``marker``."""
        return self._control.pools.list(marker=marker, limit=limit)

    def all(self) -> Pools:
        """Every registered pool, by name."""
        found: Pools = []
        marker = None
        while True:
            page = self._control.pools.list(marker=marker, limit=PAGE)
            found += page.items
            if len(page.items) < PAGE:
                return found
            marker = page.next_marker

    def capabilities(self, pool: Pool) -> Names:
        """The capability names of ``pool``."""
        return self._databases.capabilities(pool)

    def changed(self) -> None:
        """Forget this process's cached view of pools and placements."""
        self._invalidate()
