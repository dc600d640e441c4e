"""Alembic owns the schema: one head, no drift, down and up again, on every backend."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import metadata
from tests.conftest import ServerUrls


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert heads == [migrate.head_revision()]


def _tables(engine: sa.engine.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_check_downgrade_upgrade(backend: str, server_urls: ServerUrls) -> None:
    engine = make_engine(server_urls.url(backend, "migrations"))
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        migrate.check(engine)  # raises if models and migrated schema differ
        assert _tables(engine) == set(metadata.tables)
        migrate.downgrade(engine, "base")
        assert _tables(engine) == set()
        migrate.upgrade(engine)
        migrate.check(engine)
        assert _tables(engine) == set(metadata.tables)
    finally:
        migrate.downgrade(engine, "base")
        engine.dispose()


def test_check_notices_drift(server_urls: ServerUrls) -> None:
    engine = make_engine(server_urls.url("sqlite", "drift"))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_messages_expires_at")
    with pytest.raises(Exception, match="New upgrade operations detected"):
        migrate.check(engine)
    engine.dispose()


def test_sqlite_keeps_autoincrement_through_migrations(server_urls: ServerUrls) -> None:
    """Without AUTOINCREMENT SQLite reuses deleted rowids: ids would repeat."""
    engine = make_engine(server_urls.url("sqlite", "autoincrement"))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE name IN ('queues', 'messages')"
        ).all()
    engine.dispose()
    assert {name: "AUTOINCREMENT" in sql for name, sql in rows} == {
        "queues": True,
        "messages": True,
    }
