"""Drive Alembic from sqlqueue: the migrations ship inside the package."""

from __future__ import annotations

import io
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

import sqlqueue.migrations  # type: ignore[import-not-found]  # mapped from migrations/


def script_location() -> str:
    """Where the migration scripts are (checkout or installed package)."""
    return str(Path(sqlqueue.migrations.__file__).parent)


def alembic_config(connection: Connection | None = None, out: io.StringIO | None = None) -> Config:
    """An Alembic config for sqlqueue's migrations, bound to ``connection``."""
    cfg = Config(stdout=out) if out is not None else Config()
    cfg.set_main_option("script_location", script_location())
    cfg.attributes["configure_logger"] = False
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The revision the code expects."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every revision the code has a migration for."""
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


def table_names(engine: Engine) -> set[str]:
    """The tables in the database (Alembic's bookkeeping table included)."""
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision``."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision``."""
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)


def check(engine: Engine) -> None:
    """Raise if the models and the migrated schema differ (``alembic check``)."""
    with engine.begin() as conn:
        command.check(alembic_config(conn, out=io.StringIO()))
