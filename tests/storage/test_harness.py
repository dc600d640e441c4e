"""The test harness itself: without a server URL, PostgreSQL comes from a private cluster."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests import databases


@pytest.mark.postgresql
@pytest.mark.slow
def test_private_postgresql_cluster_starts_as_an_unprivileged_user() -> None:
    try:
        with databases.private_postgresql() as url:
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                user = conn.execute(sa.text("SELECT current_user")).scalar_one()
            engine.dispose()
    except Exception as ex:  # no server binaries on this machine
        databases.unavailable(f"cannot start a private PostgreSQL: {ex}")
        raise
    assert user == "postgres"
