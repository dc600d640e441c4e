"""The collector's maintenance step keeps the churning tables flat on every backend.

Each test churns a database of its own with the server's background upkeep
off where it can be (PostgreSQL ``autovacuum_enabled = false``, InnoDB
``STATS_AUTO_RECALC = 0``), so only the maintenance step can clean up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql import maintenance, migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from tests.conftest import BACKENDS, ServerUrls

PROJECT, QUEUE = "upkeep", "churn"
OPTIONS = StorageOptions(maintenance_min_rows=200, maintenance_fraction=0.05)
CHURNED, KEPT = 3000, 500


def own_database(server_urls: ServerUrls, backend: str, name: str) -> Engine:
    """A migrated database of this test's own, background upkeep off, emptied."""
    engine = make_engine(server_urls.url(backend, name))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(maintenance.CHURNING):
            conn.exec_driver_sql(f"DELETE FROM {table}")
            if backend == "postgresql":
                conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            elif backend == "mysql":
                conn.exec_driver_sql(f"ALTER TABLE {table} STATS_AUTO_RECALC = 0")
    return engine


@pytest.fixture
def flat_engine(backend: str, server_urls: ServerUrls) -> Iterator[Engine]:
    engine = own_database(server_urls, backend, "maintenance")
    yield engine
    engine.dispose()


def churn(driver: SqlDataDriver, count: int, *, body: str = "x") -> None:
    """Post ``count`` messages, consume them (claims and pops), then post ``KEPT`` that stay."""
    driver.queues.create(PROJECT, QUEUE)
    for _ in range(count // 100):
        driver.messages.post(PROJECT, QUEUE, [NewMessage({"b": body})] * 100, "test")
    for _ in range(count // 200):
        claim_id, taken = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60, limit=100)
        driver.messages.bulk_delete(PROJECT, QUEUE, [m.id for m in taken], claim_ids=[claim_id])
        driver.messages.pop(PROJECT, QUEUE, 100)
    for _ in range(KEPT // 100):
        driver.messages.post(PROJECT, QUEUE, [NewMessage({"b": body})] * 100, "test")


def pg_table_stats(engine: Engine, table: str) -> sa.Row[tuple[int, int, int, bool]]:
    query = sa.text(
        "SELECT n_live_tup, n_dead_tup, n_mod_since_analyze, last_analyze IS NOT NULL"
        " FROM pg_stat_user_tables WHERE relname = :t"
    )
    with engine.connect() as conn:
        return conn.execute(query, {"t": table}).one()


def wait_for_pg_stats(engine: Engine, dead: int) -> None:
    """PostgreSQL publishes a backend's counts when it goes idle (up to seconds later)."""
    deadline = time.monotonic() + 20
    while pg_table_stats(engine, "messages")[1] < dead and time.monotonic() < deadline:
        time.sleep(0.2)


def innodb_stats(engine: Engine, table: str) -> tuple[int, int]:
    """(rows InnoDB's statistics estimate, rows changed since they were computed)."""
    with engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT DATABASE()")).scalar()
        return conn.execute(
            sa.text(
                "SELECT NUM_ROWS, MODIFIED_COUNTER FROM information_schema.INNODB_SYS_TABLESTATS"
                " WHERE NAME = :name"
            ),
            {"name": f"{schema}/{table}"},
        ).one()


def test_maintenance_leaves_dead_rows_and_statistics_in_check(
    backend: str, flat_engine: Engine
) -> None:
    churner = SqlDataDriver(flat_engine, options=OPTIONS)
    churn(churner, CHURNED)
    churner.close()  # its sessions end: PostgreSQL publishes their counts
    if backend == "postgresql":
        wait_for_pg_stats(flat_engine, CHURNED)
        assert pg_table_stats(flat_engine, "messages")[1] >= CHURNED  # dead, not vacuumed
    if backend == "mysql":
        assert innodb_stats(flat_engine, "messages")[1] >= CHURNED

    done = SqlDataDriver(flat_engine, options=OPTIONS).maintain()

    if backend == "postgresql":
        assert any(line.startswith("VACUUM (ANALYZE) messages") for line in done), done
        live, dead, changed, analyzed = pg_table_stats(flat_engine, "messages")
        assert (live, dead, analyzed) == (KEPT, 0, True)
        assert changed < OPTIONS.maintenance_min_rows
    elif backend == "mysql":
        assert any(line.startswith("ANALYZE TABLE messages") for line in done), done
        estimated, changed = innodb_stats(flat_engine, "messages")
        assert changed < OPTIONS.maintenance_min_rows
        assert KEPT / 2 <= estimated <= KEPT * 2
    else:
        with flat_engine.connect() as conn:
            analyzed = conn.exec_driver_sql(
                "SELECT idx FROM sqlite_stat1 WHERE tbl = 'messages'"
            ).scalars()
            assert "ix_messages_queue_id_expires_at" in set(analyzed)
        assert any("WAL truncated" in line for line in done), done


@pytest.mark.sqlite
def test_sqlite_file_stays_bounded_after_a_drain(server_urls: ServerUrls) -> None:
    engine = own_database(server_urls, "sqlite", "drained")
    path = Path(make_url(server_urls.url("sqlite", "drained")).database or "")
    driver = SqlDataDriver(engine, options=OPTIONS)
    churn(driver, 6000, body="x" * 2000)  # about 12 MB through the tables
    wal = path.with_name(path.name + "-wal")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    peak = path.stat().st_size
    driver.messages.pop(PROJECT, QUEUE, KEPT)  # drained

    done = driver.maintain()

    assert any(line.startswith("incremental_vacuum") for line in done), done
    assert path.stat().st_size < peak / 10
    assert wal.stat().st_size == 0
    assert driver.queues.stats(PROJECT, QUEUE).total == 0


def test_two_maintenance_steps_at_once_both_return(backend: str, flat_engine: Engine) -> None:
    churner = SqlDataDriver(flat_engine, options=OPTIONS)
    churn(churner, CHURNED)
    churner.close()
    if backend == "postgresql":
        wait_for_pg_stats(flat_engine, CHURNED)
    drivers = [SqlDataDriver(flat_engine, options=OPTIONS) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def step(driver: SqlDataDriver) -> None:
        start.wait()
        try:
            outcomes.append(driver.maintain())
        except Exception as ex:
            outcomes.append(ex)

    threads = [threading.Thread(target=step, args=(d,)) for d in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert all(isinstance(outcome, list) for outcome in outcomes), outcomes
    assert len(outcomes) == 2


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_maintenance_held_elsewhere_is_skipped_without_waiting(
    backend: str, flat_engine: Engine
) -> None:
    """While another process holds the maintenance lock, a step skips at once."""
    if backend == "postgresql":
        take = sa.text("SELECT pg_try_advisory_lock(:k)").bindparams(k=maintenance.PG_LOCK_KEY)
    else:
        take = sa.text("SELECT GET_LOCK(CONCAT('sqlqueue.maintenance.', DATABASE()), 0)")
    with flat_engine.connect() as holder:
        assert holder.execute(take).scalar()
        done = SqlDataDriver(flat_engine, options=OPTIONS).maintain()
    assert done == ["skipped: another process is maintaining this database"]


def test_maintenance_runs_once_per_interval_and_can_be_off(flat_engine: Engine) -> None:
    driver = SqlDataDriver(flat_engine, options=OPTIONS)
    driver.maintain()
    churn(driver, CHURNED)
    assert driver.maintain() == []  # the interval has not passed
    off = StorageOptions(maintenance=False, maintenance_min_rows=0, maintenance_fraction=0)
    assert SqlDataDriver(flat_engine, options=off).maintain() == []


@pytest.mark.sqlite
def test_opening_a_connection_never_waits_for_the_write_lock(server_urls: ServerUrls) -> None:
    """A new connection opened while another holds the write lock must not need it."""
    engine = own_database(server_urls, "sqlite", "connecting")
    with engine.connect() as holder:
        holder.execution_options(sqlqueue_write=True)
        with holder.begin():
            holder.exec_driver_sql("DELETE FROM queue_counters")
            other = make_engine(str(engine.url), connect_args={"timeout": 0.2})
            with other.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2
            other.dispose()
    engine.dispose()
