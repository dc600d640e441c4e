"""Pools on SQL: the databases queues may be placed on, and their capabilities.

A pool's capabilities follow from its URI's backend; pools of one flavor
must share them. A pool still holding queues (catalogue entries), or the
last pool of a flavor that exists, cannot be deleted; one holding queues
cannot change its uri either (its queues would be looked for elsewhere).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import URL, Connection, Row

from sqlqueue import errors
from sqlqueue.domain.documents import TEXT_BYTES, encode_within
from sqlqueue.domain.models import Page, Pool
from sqlqueue.storage.base import PoolController
from sqlqueue.storage.sql.database import Database, loads
from sqlqueue.storage.sql.engine import NON_DURABLE_MYSQL
from sqlqueue.storage.sql.errors import check_url
from sqlqueue.storage.sql.tables import catalogue, flavors, pools

DEFAULT_PAGE = 10
UPDATABLE = frozenset({"uri", "weight", "flavor", "options"})
Pools = list[Pool]


class Capability(enum.StrEnum):
    """What a pool's storage guarantees (Zaqar's capability names)."""

    FIFO = "FIFO"
    CLAIMS = "CLAIMS"
    DURABILITY = "DURABILITY"
    AOD = "AOD"
    HIGH_THROUGHPUT = "HIGH_THROUGHPUT"


Capabilities = list[Capability]
_SERVER = tuple(Capability)
_SQLITE = (Capability.FIFO, Capability.CLAIMS, Capability.DURABILITY, Capability.AOD)
_BACKENDS = {"postgresql": _SERVER, "mysql": _SERVER, "mariadb": _SERVER, "sqlite": _SQLITE}


def pool_url(uri: str) -> URL:
    """``uri`` parsed. :raises ValidationFailed: not a URL of a database sqlqueue runs on."""
    try:
        return check_url(uri)
    except errors.BadDatabaseUrl as ex:
        raise errors.ValidationFailed(f"Bad pool URI: {ex}") from ex


def pool_capabilities(uri: str, options: dict[str, Any] | None = None) -> list[Capability]:
    """The capabilities of a pool at ``uri`` with ``options``, from its backend.

    SQLite serialises writers (no HIGH_THROUGHPUT) and an in-memory SQLite
    database does not survive a restart (no DURABILITY either). A pool
    configured ``{"fifo": false}`` posts without the per-queue counter's
    ordering (no FIFO); one configured ``{"persist": false}`` (the seed's
    non-durable flavor) commits without waiting for the disk (no DURABILITY).

    :raises ValidationFailed: the URI is malformed or names no SQL backend we
        run on, or ``persist`` is false on MySQL/MariaDB (no per-session switch).
    """
    url = pool_url(uri)
    backend = url.get_backend_name()
    found = _BACKENDS[backend]
    dropped: set[Capability] = set()
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        dropped.add(Capability.DURABILITY)
    if not persists(options):
        if backend in ("mysql", "mariadb"):
            raise errors.ValidationFailed(NON_DURABLE_MYSQL)
        dropped.add(Capability.DURABILITY)
    if (options or {}).get("fifo", True) is False:
        dropped.add(Capability.FIFO)
    return [cap for cap in found if cap not in dropped]


def persists(options: dict[str, Any] | None) -> bool:
    """Whether a pool with ``options`` commits durably (unless ``"persist": false``)."""
    return (options or {}).get("persist", True) is not False


def _to_pool(row: Row[Any]) -> Pool:
    return Pool(
        name=row.name, uri=row.uri, weight=row.weight, flavor=row.flavor, options=loads(row.options)
    )


def _check_uri_free(conn: Connection, name: str, uri: str) -> None:
    stmt = sa.select(pools.c.name).where(pools.c.uri == uri, pools.c.name != name)
    if conn.execute(stmt).first() is not None:
        raise errors.PoolAlreadyExists(f"A pool with URI {uri} already exists")


def _check_flavor_capabilities(conn: Connection, pool: Pool) -> None:
    """Pools of one flavor must offer the same capabilities."""
    if pool.flavor is None:
        return
    mine = set(pool_capabilities(pool.uri, pool.options))
    stmt = sa.select(pools.c.name, pools.c.uri, pools.c.options).where(
        pools.c.flavor == pool.flavor, pools.c.name != pool.name
    )
    for other in conn.execute(stmt):
        if set(pool_capabilities(other.uri, loads(other.options))) != mine:
            raise errors.ValidationFailed(
                f"Pool {pool.name} has capabilities different from pool {other.name} "
                f"of flavor {pool.flavor}"
            )


def _holds_queues(conn: Connection, name: str) -> bool:
    holds = sa.select(catalogue.c.id).where(catalogue.c.pool == name).limit(1)
    return conn.execute(holds).first() is not None


def _check_uri_kept(conn: Connection, pool: Pool, old_uri: str | None) -> None:
    """:raises PoolHoldsQueues: ``pool`` changes the uri of a pool holding queues."""
    if old_uri is None or old_uri == pool.uri or not _holds_queues(conn, pool.name):
        return
    raise errors.PoolHoldsQueues(
        f"Pool {pool.name} holds queues: its uri cannot change while they are mapped to it "
        f"(they would be looked for in the new database). Move them off first "
        f"(`sqlqueue pool drain {pool.name}`), then change or re-add the pool."
    )


def _store(conn: Connection, pool: Pool) -> None:
    """Insert or replace the row of ``pool`` (in place: catalogue rows refer to it).

    :raises PoolAlreadyExists: another pool has its uri. :raises PoolHoldsQueues:
    """
    _check_uri_free(conn, pool.name, pool.uri)
    _check_flavor_capabilities(conn, pool)
    values = {
        "uri": pool.uri,
        "weight": pool.weight,
        "flavor": pool.flavor,
        "options": encode_within(pool.options, TEXT_BYTES, "Pool options"),
    }
    locked = sa.select(pools.c.uri).where(pools.c.name == pool.name).with_for_update()
    found = conn.execute(locked).first()
    _check_uri_kept(conn, pool, None if found is None else found.uri)
    if found is None:
        conn.execute(sa.insert(pools).values(name=pool.name, **values))
    else:
        conn.execute(sa.update(pools).where(pools.c.name == pool.name).values(values))


def _check_unused(conn: Connection, pool: Row[Any]) -> None:
    """:raises PoolInUse: the pool holds queues or is the last pool of a live flavor."""
    if _holds_queues(conn, pool.name):
        raise errors.PoolInUse(
            f"Pool {pool.name} still holds queues; move them off first "
            f"(`sqlqueue pool drain {pool.name}`) or delete them "
            "(GET /v2/catalogue lists where each queue lives)"
        )
    if pool.flavor is None:
        return
    flavor_live = sa.select(flavors.c.id).where(flavors.c.name == pool.flavor).limit(1)
    siblings = sa.select(sa.func.count()).where(
        pools.c.flavor == pool.flavor, pools.c.name != pool.name
    )
    if conn.execute(flavor_live).first() is not None and not conn.execute(siblings).scalar_one():
        raise errors.PoolInUse(f"Pool {pool.name} is the last pool of flavor {pool.flavor}")


class SqlPoolController(PoolController):
    """Pool registry in the catalogue database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, pool: Pool) -> None:
        pool_capabilities(pool.uri)
        self._write(lambda c: _store(c, pool))

    def get(self, name: str) -> Pool:
        stmt = sa.select(pools).where(pools.c.name == name)
        row = self._db.run(lambda c: c.execute(stmt).first(), write=False)
        if row is None:
            raise errors.PoolDoesNotExist(f"Pool {name} does not exist")
        return _to_pool(row)

    def exists(self, name: str) -> bool:
        """Whether a pool is registered under ``name``."""
        stmt = sa.select(pools.c.name).where(pools.c.name == name)
        return self._db.run(lambda c: c.execute(stmt).first() is not None, write=False)

    def list(self, *, marker: str | None = None, limit: int | None = None) -> Page[Pool]:
        stmt = sa.select(pools).order_by(pools.c.name).limit(limit or DEFAULT_PAGE)
        if marker is not None:
            stmt = stmt.where(pools.c.name > marker)
        found = [_to_pool(r) for r in self._db.run(lambda c: c.execute(stmt).all(), write=False)]
        return Page(found, found[-1].name if found else None)

    def list_by_flavor(self, flavor: str | None) -> Pools:
        """Every pool of ``flavor`` (``None``: pools with no flavor), by name."""
        stmt = sa.select(pools).where(
            pools.c.flavor.is_(None) if flavor is None else (pools.c.flavor == flavor)
        )
        rows = self._db.run(lambda c: c.execute(stmt.order_by(pools.c.name)).all(), write=False)
        return [_to_pool(r) for r in rows]

    def capabilities(self, name: str) -> Capabilities:
        """The capabilities of pool ``name``. :raises PoolDoesNotExist:"""
        pool = self.get(name)
        return pool_capabilities(pool.uri, pool.options)

    def update(self, name: str, **fields: Any) -> None:
        """Change some of ``uri``, ``weight``, ``flavor``, ``options``.

        :raises ValidationFailed: no field or an unknown field given.
        :raises PoolDoesNotExist: :raises PoolAlreadyExists: the new uri is taken.
        :raises PoolHoldsQueues: a new uri for a pool the catalogue maps queues to.
        """
        if not fields or not UPDATABLE.issuperset(fields):
            raise errors.ValidationFailed(
                f"Pool updates need at least one of {', '.join(sorted(UPDATABLE))} and no other"
            )
        if "uri" in fields:
            pool_capabilities(fields["uri"])

        def work(conn: Connection) -> None:
            locked = sa.select(pools).where(pools.c.name == name).with_for_update()
            row = conn.execute(locked).first()  # concurrent updates apply one after another
            if row is None:
                raise errors.PoolDoesNotExist(f"Pool {name} does not exist")
            _store(conn, dataclasses.replace(_to_pool(row), **fields))

        self._write(work)

    def delete(self, name: str) -> None:
        """Delete (silent if missing). :raises PoolInUse:"""

        def work(conn: Connection) -> None:
            row = conn.execute(sa.select(pools).where(pools.c.name == name)).first()
            if row is None:
                return
            _check_unused(conn, row)
            conn.execute(sa.delete(pools).where(pools.c.name == name))

        try:
            self._db.run(work)
        except exc.IntegrityError as ex:  # a queue was placed on it meanwhile
            raise errors.PoolInUse(
                f"Pool {name} still holds queues; "
                f"move them off first (`sqlqueue pool drain {name}`)"
            ) from ex

    def drop_all(self) -> None:
        """Forget every pool that holds no queue (for tests and tear-down)."""
        held = sa.select(catalogue.c.pool).distinct()
        self._db.run(lambda c: c.execute(sa.delete(pools).where(pools.c.name.not_in(held))))

    def _write(self, work: Callable[[Connection], None]) -> None:
        try:
            self._db.run(work)
        except exc.IntegrityError as ex:  # a concurrent writer took the uri
            raise errors.PoolAlreadyExists("A pool with this URI already exists") from ex
