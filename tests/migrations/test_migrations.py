"""Alembic owns the schema: one head, no drift, down and up again, on every backend."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from sqlqueue.domain.models import NewMessage
from sqlqueue.domain.namespaces import TOPICS
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
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
        conn.exec_driver_sql("DROP INDEX ix_messages_queue_id_expires_at")
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


def test_counters_backfilled_for_existing_queues(backend: str, server_urls: ServerUrls) -> None:
    """Upgrading a database that already holds messages gives exact stats."""
    engine = make_engine(server_urls.url(backend, "backfill"))
    try:
        migrate.upgrade(engine, "0003")
        with engine.begin() as conn:
            for qid, name in ((1, "full"), (2, "empty")):
                conn.execute(
                    sa.text(
                        "INSERT INTO queues (id, project, name, meta, next_marker, created_at,"
                        " updated_at) VALUES (:id, 'p', :name, '{}', 6, 0, 0)"
                    ),
                    {"id": qid, "name": name},
                )
            for marker in range(1, 6):
                conn.execute(
                    sa.text(
                        "INSERT INTO messages (queue_id, marker, body, client_id, ttl,"
                        " created_at, expires_at, delay_until, claim_id, claim_expires,"
                        " claim_count) VALUES (1, :m, '{}', 'c', 60, 0, :far, 0, NULL, 0, 0)"
                    ),
                    {"m": marker, "far": 2**50},
                )
        migrate.upgrade(engine)
        driver = SqlDataDriver(engine)
        stats = driver.queues.stats("p", "full")
        assert (stats.free, stats.claimed, stats.total) == (5, 0, 5)
        assert driver.queues.stats("p", "empty").total == 0
        driver.messages.pop("p", "full", 2)
        assert driver.queues.stats("p", "full").total == 3
    finally:
        migrate.downgrade(engine, "base")
        engine.dispose()


def test_topics_fit_after_upgrade_and_go_on_downgrade(
    backend: str, server_urls: ServerUrls
) -> None:
    """0007 makes room for 65-character topic keys; going back deletes the topics only."""
    engine = make_engine(server_urls.url(backend, "topics"))
    longest = TOPICS.key("t" * 64)
    try:
        migrate.upgrade(engine, "0005")
        migrate.upgrade(engine)
        # Written at head: the code's statements name columns added after 0005.
        driver = SqlDataDriver(engine)
        driver.messages.post("p", "kept", [NewMessage({"q": 1}, ttl=60)], "c" * 32)
        driver.messages.post("p", longest, [NewMessage({"t": 1}, ttl=60)], "c" * 32)
        assert driver.subscriptions.create("p", longest, "http://h/t", 600, {}) is not None
        assert driver.subscriptions.create("p", "kept", "http://h/q", 600, {}) is not None
        assert driver.queues.stats("p", longest).total == 1
        migrate.downgrade(engine, "0005")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM queues")).scalars().all() == ["kept"]
            assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one() == 1
            sources = conn.execute(sa.text("SELECT source FROM subscriptions")).scalars().all()
            assert sources == ["kept"]
        migrate.upgrade(engine)
        migrate.check(engine)
    finally:
        migrate.downgrade(engine, "base")
        engine.dispose()


def _reloptions(engine: sa.engine.Engine) -> dict[str, dict[str, str]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r'"
            " AND relnamespace = 'public'::regnamespace"
        ).all()
    return {name: dict(o.split("=", 1) for o in options or ()) for name, options in rows}


@pytest.mark.postgresql
def test_churning_tables_get_autovacuum_settings(server_urls: ServerUrls) -> None:
    """0008 sets per-table autovacuum parameters on PostgreSQL; its downgrade resets them."""
    engine = make_engine(server_urls.url("postgresql", "reloptions"))
    try:
        migrate.upgrade(engine)
        options = _reloptions(engine)
        for table in ("messages", "claims", "deliveries"):
            assert options[table]["autovacuum_vacuum_scale_factor"] == "0.01"
            assert options[table]["autovacuum_analyze_scale_factor"] == "0.02"
            assert options[table]["autovacuum_vacuum_cost_delay"] == "0"
        for table in ("queues", "queue_counters"):
            assert options[table]["fillfactor"] == "50"
            assert options[table]["autovacuum_vacuum_scale_factor"] == "0"
        assert options["pools"] == {}
        migrate.downgrade(engine, "0007")
        assert all(not values for values in _reloptions(engine).values())
        migrate.upgrade(engine)
        assert options == _reloptions(engine)
    finally:
        migrate.downgrade(engine, "base")
        engine.dispose()


def test_claim_id_index_holds_claimed_messages_only(backend: str, server_urls: ServerUrls) -> None:
    """0009: partial on PostgreSQL and SQLite (MySQL has no partial indexes)."""
    engine = make_engine(server_urls.url(backend, "partial"))
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            if backend == "postgresql":
                definition = conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_messages_claim_id'"
                ).scalar_one()
            elif backend == "sqlite":
                definition = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE name = 'ix_messages_claim_id'"
                ).scalar_one()
            else:
                definition = ""
        names = {ix["name"] for ix in sa.inspect(engine).get_indexes("messages")}
        assert "ix_messages_claim_id" in names
        assert ("claim_id IS NOT NULL" in definition) == (backend != "mysql")
        migrate.downgrade(engine, "0008")
        assert "ix_messages_claim_id" in {
            ix["name"] for ix in sa.inspect(engine).get_indexes("messages")
        }
    finally:
        migrate.downgrade(engine, "base")
        engine.dispose()
