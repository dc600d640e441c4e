"""Progress of long work, as a user sees it: ``sqlqueue gc`` and ``sqlqueue db upgrade``.

The commands run as subprocesses: with pipes (not a terminal: quiet unless
``--progress``), under a pseudo-terminal (a progress bar), and interrupted
with SIGINT mid-way (they stop between two units of work and say so).
"""

from __future__ import annotations

import os
import pty
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from sqlqueue.bootstrap import create_storage
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine
from tests.cli.conftest import Run
from tests.e2e.conftest import command

pytestmark = pytest.mark.sqlite

LINE = re.compile(r"^gc: (\d+)/(\d+) rows \((\d+)%\), [\d,]+ rows/s", re.MULTILINE)


def backlog(path: Path, rows: int, queues: int = 4) -> str:
    """A SQLite catalogue whose ``rows`` messages all expired an hour ago; its URL."""
    url = f"sqlite:///{path}"
    clock = ManualClock(time.time() - 7200)
    storage = create_storage(Settings(database_url=url), clock=clock)
    try:
        per_queue = rows // queues
        for n in range(queues):
            for start in range(0, per_queue, 1000):
                batch = [NewMessage(i, ttl=60) for i in range(min(1000, per_queue - start))]
                storage.store.placing("p", f"q{n}").messages.post("p", f"q{n}", batch, "c")
    finally:
        storage.close()
    return url


def message_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])


def test_gc_without_a_terminal_prints_only_its_summary(sqlqueue: Run, tmp_path: Path) -> None:
    url = backlog(tmp_path / "q.db", 2000)
    result = sqlqueue("gc", "--database-url", url)
    summary, maintenance = result.stdout.splitlines()  # the summary, then maintenance's line
    assert (result.returncode, summary, result.stderr) == (0, "removed 2000 expired rows", "")
    assert maintenance.startswith("maintenance: ")


def test_gc_progress_lines_when_asked(sqlqueue: Run, tmp_path: Path) -> None:
    url = backlog(tmp_path / "q.db", 3000)
    result = sqlqueue("gc", "--progress", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "removed 3000 expired rows"
    lines = LINE.findall(result.stderr)
    assert lines and lines[-1] == ("3000", "3000", "100")
    assert sqlqueue("gc", "--quiet", "--database-url", url).stderr == ""


def test_gc_shows_a_bar_on_a_terminal(tmp_path: Path) -> None:
    url = backlog(tmp_path / "q.db", 3000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env.update(TERM="xterm-256color", COLUMNS="120")
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [*command(), "gc", "--database-url", url],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    ) as process:
        os.close(follower)
        screen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            screen += chunk
        assert process.wait(timeout=60) == 0
    os.close(leader)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    assert "━" in shown  # the bar
    assert "3000/3000" in shown and "rows/s" in shown and "100%" in shown
    assert "removed 3000 expired rows" in shown


@pytest.mark.slow
def test_ctrl_c_stops_gc_between_batches_and_says_what_was_done(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    url = backlog(path, 40000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    with subprocess.Popen(
        [*command(), "gc", "--database-url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        deadline = time.monotonic() + 60
        while message_rows(path) == 40000 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert out == ""
    done = re.search(r"interrupted: removed (\d+) expired rows \(whole batches\)", err)
    assert done is not None, err
    removed = int(done.group(1))
    assert 0 < removed < 40000  # whole batches only: what it says went is what went
    assert message_rows(path) == 40000 - removed
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
    again = subprocess.run(
        [*command(), "gc", "--database-url", url], capture_output=True, text=True, env=env
    )
    assert again.stdout.splitlines()[0] == f"removed {40000 - removed} expired rows"


def test_db_upgrade_counts_the_catalogue_and_every_pool(sqlqueue: Run, tmp_path: Path) -> None:
    catalogue = f"sqlite:///{tmp_path}/catalogue.db"
    storage = create_storage(Settings(database_url=catalogue))
    pools = [f"sqlite:///{tmp_path}/pool{n}.db" for n in range(3)]
    try:
        for n, url in enumerate(pools):
            storage.admin.pools.put(f"pool{n}", uri=url, weight=1)
    finally:
        storage.close()
    for url in (catalogue, *pools):
        engine = make_engine(url)
        migrate.downgrade(engine, "0002")
        engine.dispose()

    result = sqlqueue("db", "upgrade", "--progress", "--database-url", catalogue)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^db upgrade: 4/4 databases \(100%\)", result.stderr, re.MULTILINE)
    last = result.stdout.splitlines()[-1]
    assert re.fullmatch(r"upgraded the catalogue and 3 of 3 pools to \w+ in [\d.]+ s", last)
    quiet = sqlqueue("db", "upgrade", "--database-url", catalogue)
    assert quiet.stderr == "" and quiet.returncode == 0


@pytest.mark.slow
def test_ctrl_c_stops_db_upgrade_between_databases(tmp_path: Path) -> None:
    catalogue = f"sqlite:///{tmp_path}/catalogue.db"
    pools = [f"sqlite:///{tmp_path}/pool{n}.db" for n in range(8)]
    storage = create_storage(Settings(database_url=catalogue))
    try:
        for n, url in enumerate(pools):
            storage.admin.pools.put(f"pool{n}", uri=url, weight=1)
    finally:
        storage.close()
    for url in pools:
        engine = make_engine(url)
        migrate.downgrade(engine, "0002")
        engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env["PYTHONUNBUFFERED"] = "1"
    with subprocess.Popen(
        [*command(), "db", "upgrade", "--database-url", catalogue],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("pool pool0 "):
                process.send_signal(signal.SIGINT)
                break
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    done = re.search(r"interrupted: (\d+) of 9 databases upgraded \(each one whole\)", err)
    assert done is not None, err
    revisions = []
    for url in pools:
        engine = make_engine(url)
        revisions.append(migrate.current_revision(engine))
        engine.dispose()
    assert set(revisions) <= {"0002", migrate.head_revision()}  # never between the two
    assert revisions.count(migrate.head_revision()) == int(done.group(1)) - 1  # and the catalogue
    assert "upgraded the catalogue" not in out
