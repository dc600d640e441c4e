"""Throwaway test databases on each backend.

Every test session gets databases of its own (``sqlqueue_t<pid>...``) on the
PostgreSQL and MySQL servers named by ``SQLQUEUE_TEST_POSTGRES_URL`` and
``SQLQUEUE_TEST_MYSQL_URL``, so that concurrent runs never see each other's
rows. Without ``SQLQUEUE_TEST_POSTGRES_URL`` a private PostgreSQL cluster is
started with testing.postgresql. When ``CI=true`` an unreachable backend
fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

IN_CI = os.environ.get("CI", "").lower() == "true"
SERVER_BACKENDS = ("postgresql", "mysql")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"backend required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def _admin_execute(url: str, statement: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@contextmanager
def server_database(base_url: str, name: str) -> Iterator[str]:
    """Create database ``name`` next to ``base_url``'s; yields its URL; drops it after."""
    url = make_url(base_url)
    if url.get_backend_name() == "mysql" and "+" not in url.drivername:
        url = url.set(drivername="mysql+pymysql")
    admin = url.render_as_string(hide_password=False)
    quote = '"' if url.get_backend_name() == "postgresql" else "`"
    _admin_execute(admin, f"DROP DATABASE IF EXISTS {quote}{name}{quote}")
    _admin_execute(admin, f"CREATE DATABASE {quote}{name}{quote}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if quote == '"' else ""
        _admin_execute(admin, f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}")


def _wrapper(bin_dir: Path, tool: str, user: str, where: Path) -> str:
    """A script running a PostgreSQL binary as ``user`` (it refuses root)."""
    real = shutil.which(tool) or str(next(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}")))
    script = where / tool
    own = f"chown -R {user} {where}/data\n"
    script.write_text(
        f'#!/bin/sh\n{own}exec setpriv --reuid={user} --regid={user} --init-groups {real} "$@"\n'
    )
    script.chmod(0o755)
    return str(script)


@contextmanager
def private_postgresql() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (testing.postgresql), as an unprivileged user."""
    import testing.postgresql

    base = Path(tempfile.mkdtemp(prefix="sqlqueue-pg-"))
    kwargs: dict[str, str] = {"base_dir": str(base / "data")}
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        base.chmod(0o755)
        kwargs["initdb"] = _wrapper(base, "initdb", user, base)
        kwargs["postgres"] = _wrapper(base, "postgres", user, base)
    server = testing.postgresql.Postgresql(**kwargs)
    try:
        yield server.url()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    return subprocess.run(["id", name], capture_output=True).returncode == 0
