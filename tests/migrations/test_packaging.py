"""The wheel ships the migrations: ``sqlqueue db ...`` works from an install."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from sqlqueue.storage.sql import migrate

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
    )
    return next(out.glob("sqlqueue-*.whl"))


def test_wheel_contains_migrations(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "sqlqueue/migrations/env.py" in names
    assert "sqlqueue/migrations/script.py.mako" in names
    assert any(n.startswith("sqlqueue/migrations/versions/0001_") for n in names)


def test_wheel_contains_dashboard_pages(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for page in ("overview.html", "page.html", "queue.html"):
        assert f"sqlqueue/transport/wsgi/dashboard/templates/{page}" in names
    assert "sqlqueue/transport/wsgi/dashboard/static/dashboard.js" in names
    assert "sqlqueue/transport/wsgi/dashboard/static/dashboard.css" in names


def test_db_commands_from_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The dependencies come from the running environment (a plain path entry:
    # its .pth files, such as an editable sqlqueue, are not processed).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            "--force-reinstall",
            str(wheel),
        ],
        check=True,
    )
    cli = env_dir / "bin" / "sqlqueue"
    url = f"sqlite:///{tmp_path / 'q.db'}"

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(cli), *args, "--database-url", url],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    origin = subprocess.run(
        [str(python), "-c", "import sqlqueue.migrations as m; print(m.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(env_dir) in origin, "the test must exercise the installed copy"
    assert "(empty database)" in run("db", "current")
    run("db", "upgrade")
    assert run("db", "current").strip() == migrate.head_revision()
    assert "matching the code" in run("db", "check")
    run("db", "downgrade", "base")
    assert "(empty database)" in run("db", "current")
