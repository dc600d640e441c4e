"""Flavors on SQL: named, per-project groups of pools.

A pool belongs to a flavor through its ``flavor`` column (a flavor name,
shared by the projects that define a flavor of that name).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sqlqueue import errors
from sqlqueue.domain.documents import TEXT_BYTES, encode_within
from sqlqueue.domain.models import Flavor, Page
from sqlqueue.storage.base import FlavorController
from sqlqueue.storage.sql.database import Database, loads
from sqlqueue.storage.sql.queues import insert_ignore
from sqlqueue.storage.sql.tables import flavors, pools

DEFAULT_PAGE = 10
CAPABILITIES = "Flavor capabilities"


def _to_flavor(row: Row[Any]) -> Flavor:
    return Flavor(name=row.name, project=row.project, capabilities=loads(row.capabilities))


def _where(project: str, name: str) -> tuple[Any, ...]:
    return (flavors.c.project == project, flavors.c.name == name)


class SqlFlavorController(FlavorController):
    """Flavor registry in the catalogue database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, flavor: Flavor) -> None:
        values = {
            "project": flavor.project,
            "name": flavor.name,
            "capabilities": encode_within(flavor.capabilities, TEXT_BYTES, CAPABILITIES),
        }
        replace = (
            sa.update(flavors)
            .where(*_where(flavor.project, flavor.name))
            .values(capabilities=values["capabilities"])
        )

        def work(conn: Connection) -> None:
            if not insert_ignore(conn, flavors, values):
                conn.execute(replace)

        self._db.run(work)

    def get(self, project: str, name: str) -> Flavor:
        stmt = sa.select(flavors).where(*_where(project, name))
        row = self._db.run(lambda c: c.execute(stmt).first(), write=False)
        if row is None:
            raise errors.FlavorDoesNotExist(f"Flavor {name} does not exist")
        return _to_flavor(row)

    def exists(self, project: str, name: str) -> bool:
        """Whether ``project`` has a flavor ``name``."""
        stmt = sa.select(flavors.c.id).where(*_where(project, name))
        return self._db.run(lambda c: c.execute(stmt).first() is not None, write=False)

    def list(
        self, project: str, *, marker: str | None = None, limit: int | None = None
    ) -> Page[Flavor]:
        stmt = (
            sa.select(flavors)
            .where(flavors.c.project == project)
            .order_by(flavors.c.name)
            .limit(limit or DEFAULT_PAGE)
        )
        if marker is not None:
            stmt = stmt.where(flavors.c.name > marker)
        rows = self._db.run(lambda c: c.execute(stmt).all(), write=False)
        found = [_to_flavor(r) for r in rows]
        return Page(found, found[-1].name if found else None)

    def update(
        self, project: str, name: str, *, capabilities: dict[str, Any] | None = None
    ) -> None:
        """Change a flavor's capabilities.

        :raises ValidationFailed: nothing to change. :raises FlavorDoesNotExist:
        """
        if capabilities is None:
            raise errors.ValidationFailed("Flavor updates need capabilities")
        stmt = (
            sa.update(flavors)
            .where(*_where(project, name))
            .values(capabilities=encode_within(capabilities, TEXT_BYTES, CAPABILITIES))
        )

        def work(conn: Connection) -> bool:
            if conn.execute(sa.select(flavors.c.id).where(*_where(project, name))).first():
                conn.execute(stmt)
                return True
            return False

        if not self._db.run(work):
            raise errors.FlavorDoesNotExist(f"Flavor {name} does not exist")

    def delete(self, project: str, name: str) -> None:
        """Delete (silent if missing); pools leave the flavor once no project has it."""

        def work(conn: Connection) -> None:
            conn.execute(sa.delete(flavors).where(*_where(project, name)))
            if conn.execute(sa.select(flavors.c.id).where(flavors.c.name == name)).first():
                return
            conn.execute(sa.update(pools).where(pools.c.flavor == name).values(flavor=None))

        self._db.run(work)

    def drop_all(self) -> None:
        """Forget every flavor (for tests and tear-down); pools keep their rows."""

        def work(conn: Connection) -> None:
            conn.execute(sa.delete(flavors))
            conn.execute(sa.update(pools).values(flavor=None))

        self._db.run(work)
