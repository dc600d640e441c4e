"""The catalogue on SQL: which pool holds each (project, queue).

Listing one project pages by queue name. Listing every project (``project
is None``) orders by (project, queue) and its markers are
``"<project>/<queue>"`` (queue names never contain ``/``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Row

from sqlqueue import errors
from sqlqueue.domain import namespaces
from sqlqueue.domain.models import CatalogueEntry, Page
from sqlqueue.storage.base import CatalogueController
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.queues import insert_ignore
from sqlqueue.storage.sql.tables import catalogue, pools

DEFAULT_PAGE = 10
T = TypeVar("T")


def _to_entry(row: Row[Any]) -> CatalogueEntry:
    return CatalogueEntry(project=row.project, queue=row.queue, pool=row.pool)


def _where(project: str, queue: str) -> tuple[Any, ...]:
    return (catalogue.c.project == project, catalogue.c.queue == queue)


def _require_pool(conn: Connection, pool: str) -> None:
    if conn.execute(sa.select(pools.c.name).where(pools.c.name == pool)).first() is None:
        raise errors.PoolDoesNotExist(f"Pool {pool} does not exist")


def _after(project: str | None, marker: str | None) -> list[Any]:
    """The listing's conditions: the project's entries after ``marker``."""
    if project is not None:
        where = [catalogue.c.project == project]
        return where + ([catalogue.c.queue > marker] if marker is not None else [])
    if marker is None:
        return []
    owner, _, queue = marker.rpartition("/")
    return [
        sa.or_(
            catalogue.c.project > owner,
            sa.and_(catalogue.c.project == owner, catalogue.c.queue > queue),
        )
    ]


def _marker(project: str | None, entry: CatalogueEntry) -> str:
    return entry.queue if project is not None else f"{entry.project}/{entry.queue}"


class SqlCatalogueController(CatalogueController):
    """Queue placement in the catalogue database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, project: str, queue: str) -> CatalogueEntry:
        stmt = sa.select(catalogue).where(*_where(project, queue))
        row = self._db.run(lambda c: c.execute(stmt).first(), write=False)
        if row is None:
            raise errors.QueueNotMapped(f"{namespaces.label(queue)} is not mapped to any pool")
        return _to_entry(row)

    def exists(self, project: str, queue: str) -> bool:
        """Whether the queue is mapped."""
        stmt = sa.select(catalogue.c.id).where(*_where(project, queue))
        return self._db.run(lambda c: c.execute(stmt).first() is not None, write=False)

    def insert(self, project: str, queue: str, pool: str) -> None:
        """Map the queue to ``pool``, replacing any mapping. :raises PoolDoesNotExist:"""
        values = {"project": project, "queue": queue, "pool": pool}
        replace = sa.update(catalogue).where(*_where(project, queue)).values(pool=pool)

        def work(conn: Connection) -> None:
            _require_pool(conn, pool)
            if not insert_ignore(conn, catalogue, values):
                conn.execute(replace)

        self._run(work, pool)

    def insert_if_absent(self, project: str, queue: str, pool: str) -> str:
        """Map the queue to ``pool`` unless it is mapped; returns the pool that holds it.

        Of concurrent placements of one queue exactly one wins and every
        caller learns the winner. :raises PoolDoesNotExist:
        """
        values = {"project": project, "queue": queue, "pool": pool}
        current = sa.select(catalogue.c.pool).where(*_where(project, queue))

        def work(conn: Connection) -> str:
            _require_pool(conn, pool)
            insert_ignore(conn, catalogue, values)  # MySQL: IGNORE also hides FK errors
            found: str | None = conn.execute(current).scalar()
            if found is None:
                raise errors.PoolDoesNotExist(f"Pool {pool} does not exist")
            return found

        return self._run(work, pool)

    def update(self, project: str, queue: str, pool: str) -> None:
        """Move an existing mapping to ``pool``.

        :raises QueueNotMapped: :raises PoolDoesNotExist:
        """
        stmt = sa.update(catalogue).where(*_where(project, queue)).values(pool=pool)

        def work(conn: Connection) -> int:
            _require_pool(conn, pool)
            return int(conn.execute(stmt).rowcount)

        if not self._run(work, pool):
            raise errors.QueueNotMapped(f"{namespaces.label(queue)} is not mapped to any pool")

    def list(
        self,
        project: str | None,
        *,
        marker: str | None = None,
        limit: int | None = None,
    ) -> Page[CatalogueEntry]:
        stmt = (
            sa.select(catalogue)
            .where(*_after(project, marker))
            .order_by(catalogue.c.project, catalogue.c.queue)
            .limit(limit or DEFAULT_PAGE)
        )
        rows = self._db.run(lambda c: c.execute(stmt).all(), write=False)
        found = [_to_entry(r) for r in rows]
        return Page(found, _marker(project, found[-1]) if found else None)

    def delete(self, project: str, queue: str) -> None:
        stmt = sa.delete(catalogue).where(*_where(project, queue))
        self._db.run(lambda c: c.execute(stmt))

    def count(self) -> int:
        stmt = sa.select(sa.func.count()).select_from(catalogue)
        return int(self._db.run(lambda c: c.execute(stmt).scalar_one(), write=False))

    def drop_all(self) -> None:
        """Forget every mapping (for tests and tear-down)."""
        self._db.run(lambda c: c.execute(sa.delete(catalogue)))

    def _run(self, work: Callable[[Connection], T], pool: str) -> T:
        try:
            return self._db.run(work)
        except exc.IntegrityError as ex:  # the pool was deleted concurrently
            raise errors.PoolDoesNotExist(f"Pool {pool} does not exist") from ex
