"""The one schema gate: is a database at the code's schema, and may it be migrated here?

Every process that opens a database goes through ``prepare`` (``sqlqueue serve``,
``gc`` and ``pool``, a pool registered over the admin API), and ``db current``
and ``db check`` read the same ``SchemaState``. The rules:

* at the code's revision (head): use it;
* empty (no table but Alembic's): migrate it to head;
* SQLite at an older revision sqlqueue knows: migrate it, unless the caller
  says otherwise (a pool database is left to its owner);
* anything else is refused with what to type: a stale server database needs
  ``sqlqueue db upgrade --database-url URL``, a database migrated by a newer
  sqlqueue needs a newer sqlqueue, a database holding someone else's tables
  needs a database of its own.

Failures to open or reach the database are worded by ``errors.explain``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from alembic.util import CommandError
from sqlalchemy.engine import URL, Engine

from sqlqueue import errors
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.errors import check_url, describe, explained, safe_url

logger = logging.getLogger(__name__)

BOOKKEEPING = frozenset({"alembic_version"})
CONNECT_TIMEOUT = 10
"""Seconds a short-lived engine waits for a server before giving up."""
FOREIGN_TABLES_SHOWN = 5


@dataclass(frozen=True)
class SchemaState:
    """What a database holds: its revision, the code's, and its tables."""

    url: URL
    current: str | None
    head: str
    tables: frozenset[str]
    known: bool
    """Whether ``current`` is None or a revision this code has a migration for."""
    upgraded_from: str | None = None
    """The revision the gate found before migrating (``"empty"``); None if it did not."""

    @property
    def at_head(self) -> bool:
        """Whether the database is at the code's schema."""
        return self.current == self.head

    @property
    def empty(self) -> bool:
        """No sqlqueue revision and no table but Alembic's."""
        return self.current is None and self.tables <= BOOKKEEPING

    def may_migrate(self, *, upgrade_sqlite: bool = True) -> bool:
        """Whether the gate migrates this database to head by itself."""
        if self.empty:
            return True
        sqlite = self.url.get_backend_name() == "sqlite"
        return upgrade_sqlite and sqlite and self.current is not None and self.known

    def refusal(self) -> errors.SchemaMismatch:
        """Why the database cannot be used as it is, and what to type (call when not at head)."""
        where = describe(self.url)
        if self.current is None and not self.empty:
            shown = ", ".join(sorted(self.tables - BOOKKEEPING)[:FOREIGN_TABLES_SHOWN])
            return errors.SchemaMismatch(
                f"the {where} is not empty and holds no sqlqueue schema (tables: {shown}, ...): "
                "give sqlqueue a database of its own"
            )
        if not self.known:
            return errors.SchemaMismatch(
                f"the {where} is at schema revision {self.current}, which this sqlqueue "
                f"(at {self.head}) does not know: a newer sqlqueue migrated it; "
                "upgrade sqlqueue (`pip install --upgrade sqlqueue`)"
            )
        state = f"at schema revision {self.current}" if self.current else "empty"
        password = " (with your password in place of ***)" if self.url.password else ""
        return errors.SchemaMismatch(
            f"the {where} is {state} but this sqlqueue needs {self.head}: run "
            f"`sqlqueue db upgrade --database-url {safe_url(self.url)}`{password}"
        )


def open_engine(url: str, *, create: bool = True, **kwargs: Any) -> Engine:
    """A short-lived engine on ``url`` (servers give up connecting after CONNECT_TIMEOUT s).

    :raises BadDatabaseUrl: a malformed URL, an unsupported database, a missing driver.
    :raises DatabaseMissing: ``create`` is false and a SQLite file's directory is missing.
    """
    parsed = check_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT})
        kwargs.setdefault("pool_size", 1)
    with explained(url):
        return make_engine(url, create=create, **kwargs)


def read_state(engine: Engine, url: URL | None = None) -> SchemaState:
    """The database's schema state; ``url`` (as the user wrote it) names it in messages.

    :raises: the driver's errors, untranslated.
    """
    current = migrate.current_revision(engine)
    return SchemaState(
        url=url or engine.url,
        current=current,
        head=migrate.head_revision(),
        tables=frozenset(migrate.table_names(engine)),
        known=current is None or current in migrate.known_revisions(),
    )


def ensure_current(
    engine: Engine, url: URL | None = None, *, upgrade_sqlite: bool = True
) -> SchemaState:
    """The one gate: the database at head, migrated here if ``may_migrate``.

    :raises SchemaMismatch: not at head and not to be migrated here.
    :raises: the driver's errors, untranslated (wrap the call in ``explained``).
    """
    state = read_state(engine, url)
    if state.at_head:
        return state
    if not state.may_migrate(upgrade_sqlite=upgrade_sqlite):
        raise state.refusal()
    logger.info(
        "upgrading the schema of the %s from %s to %s",
        describe(state.url),
        state.current or "empty",
        state.head,
    )
    migrate.upgrade(engine)
    return dataclasses.replace(read_state(engine, url), upgraded_from=state.current or "empty")


def prepare(url: str, *, create: bool = True, upgrade_sqlite: bool = True) -> SchemaState:
    """Open ``url``, pass it through the gate, close it; the state it is left in.

    ``create``: a missing SQLite file (and its directory) may be created.

    :raises BadDatabaseUrl: the URL cannot be used.
    :raises StorageUnavailable: the database cannot be reached, does not
        exist, refuses the user, or is refused by the gate (SchemaMismatch).
    """
    engine = open_engine(url, create=create)
    try:
        with explained(url):
            return ensure_current(engine, check_url(url), upgrade_sqlite=upgrade_sqlite)
    finally:
        engine.dispose()


def inspect(url: str, *, create: bool = False) -> SchemaState:
    """The schema state of the database at ``url``, read only (errors as ``prepare``)."""
    engine = open_engine(url, create=create)
    try:
        with explained(url):
            return read_state(engine, check_url(url))
    finally:
        engine.dispose()


def migrate_to(url: str, revision: str, *, down: bool = False) -> str | None:
    """Migrate the database at ``url`` up (or ``down``) to ``revision``; where it is after.

    :raises ValidationFailed: Alembic refuses the revision (unknown, wrong direction).
    :raises StorageUnavailable: as ``prepare``.
    """
    engine = open_engine(url, create=not down)
    try:
        with explained(url):
            try:
                (migrate.downgrade if down else migrate.upgrade)(engine, revision)
            except CommandError as ex:
                known = ", ".join(sorted(migrate.known_revisions()))
                raise errors.ValidationFailed(
                    f"cannot migrate the {describe(url)} to {revision!r} ({ex}): "
                    f"give one of {known}, head or base"
                ) from ex
            return migrate.current_revision(engine)
    finally:
        engine.dispose()


def model_differences(url: str) -> str | None:
    """How the migrated schema at ``url`` differs from the code's tables (None: it does not).

    :raises StorageUnavailable: as ``prepare``.
    """
    engine = open_engine(url, create=False)
    try:
        with explained(url):
            try:
                migrate.check(engine)
            except CommandError as ex:
                return " ".join(str(ex).split())
            return None
    finally:
        engine.dispose()
