"""Serving and database options a new user gets wrong: one line saying what to type
(status 2), and ``serve --websocket`` started from anywhere.

Each test runs the console script as a subprocess, as a user would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import websocket

from tests.cli.conftest import Run, free_port, refusal
from tests.e2e.conftest import command

pytestmark = pytest.mark.sqlite

START_TIMEOUT = 60.0
FILE_EXAMPLE = "sqlite:////var/lib/sqlqueue/sqlqueue.db"


def _serve_until_websocket(
    cwd: Path, *args: str, kill_child: bool = False, ctrl_c: bool = False
) -> str:
    """Run ``sqlqueue serve ARGS`` in ``cwd``, connect to its websocket port, stop it
    with SIGTERM (or SIGKILL its websocket child: it must then stop by itself,
    status 1; or ``ctrl_c``: SIGINT to the whole process group, as a terminal
    sends it, status 0); what it printed. Fails when nothing listens within
    START_TIMEOUT."""
    port = args[args.index("--websocket-port") + 1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env["XDG_DATA_HOME"] = str(cwd / "xdg")
    log = cwd / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command(), "serve", *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log.read_text()
            try:
                websocket.create_connection(f"ws://127.0.0.1:{port}", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        if kill_child:
            os.kill(_websocket_child(process.pid), signal.SIGKILL)
            assert process.wait(60) == 1, log.read_text()
        elif ctrl_c:
            os.killpg(process.pid, signal.SIGINT)
            assert process.wait(60) == 0, log.read_text()
        else:
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return log.read_text()


def _websocket_child(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        if b"sqlqueue.wsserve" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    raise AssertionError(f"no websocket child among {children}")


def test_websocket_child_ignores_a_sqlqueue_folder_in_the_current_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "sqlqueue").mkdir()  # as in the parent directory of a clone
    ws_port = str(free_port())
    output = _serve_until_websocket(
        tmp_path,
        *("--websocket", "--workers", "1", "--port", str(free_port())),
        *("--websocket-port", ws_port, "--database-url", f"sqlite:///{tmp_path}/q.db"),
    )
    assert "Traceback" not in output
    assert "exited by itself" not in output


def test_serve_stops_when_its_websocket_child_dies(tmp_path: Path) -> None:
    output = _serve_until_websocket(
        tmp_path,
        *("--websocket", "--workers", "1", "--port", str(free_port())),
        *("--websocket-port", str(free_port()), "--database-url", f"sqlite:///{tmp_path}/q.db"),
        kill_child=True,
    )
    assert "sqlqueue: the websocket server exited by itself (status -9): stopping\n" in output


def test_ctrl_c_stops_serve_and_its_websocket_child_quietly(tmp_path: Path) -> None:
    output = _serve_until_websocket(
        tmp_path,
        *("--websocket", "--workers", "1", "--port", str(free_port())),
        *("--websocket-port", str(free_port()), "--database-url", f"sqlite:///{tmp_path}/q.db"),
        ctrl_c=True,
    )
    assert "exited by itself" not in output
    assert "Traceback" not in output


def test_websocket_only_does_not_need_the_http_port(tmp_path: Path, busy_port: int) -> None:
    output = _serve_until_websocket(
        tmp_path,
        *("--websocket-only", "--port", str(busy_port)),
        *("--websocket-port", str(free_port()), "--database-url", f"sqlite:///{tmp_path}/q.db"),
    )
    assert "Traceback" not in output


@pytest.mark.parametrize("flag", ["--websocket", "--websocket-only"])
@pytest.mark.parametrize("port", ["0", "70000"])
def test_a_websocket_port_out_of_range(sqlqueue: Run, tmp_path: Path, flag: str, port: str) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    result = sqlqueue(
        "serve", flag, "--websocket-port", port, "--port", str(free_port()), "--database-url", url
    )
    assert refusal(result) == (
        f"sqlqueue: port {port} is not between 1 and 65535: choose one with --websocket-port"
    )
    assert not (tmp_path / "q.db").exists()  # nothing started


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--websocket-port", "9001"],
            "sqlqueue: --websocket-port needs --websocket or --websocket-only: "
            "add one of them, or drop --websocket-port",
        ),
        (
            ["--websocket-host", "0.0.0.0"],
            "sqlqueue: --websocket-host needs --websocket or --websocket-only: "
            "add one of them, or drop --websocket-host",
        ),
        (
            ["--websocket", "--websocket-only"],
            "sqlqueue: --websocket and --websocket-only exclude each other: give --websocket "
            "for HTTP and websocket, --websocket-only for the websocket API alone",
        ),
    ],
    ids=" ".join,
)
def test_websocket_flags_that_would_be_ignored(
    sqlqueue: Run, tmp_path: Path, args: list[str], expected: str
) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    result = sqlqueue("serve", *args, "--port", str(free_port()), "--database-url", url)
    assert refusal(result) == expected
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("how", "name", "value"),
    [
        ("flag", "workers", "0"),
        ("flag", "threads", "0"),
        ("flag", "threads", "-1"),
        ("env", "threads", "0"),
        ("env", "long_polls", "0"),
        ("env", "websocket_threads", "0"),
        ("file", "websocket_max_connections", "0"),
    ],
)
def test_a_count_below_one(sqlqueue: Run, tmp_path: Path, how: str, name: str, value: str) -> None:
    args = ["serve", "--port", str(free_port()), "--database-url", f"sqlite:///{tmp_path}/q.db"]
    env: dict[str, str] = {}
    if how == "flag":
        args += [f"--{name}", value]
    elif how == "env":
        env[f"SQLQUEUE_{name.upper()}"] = value
    else:
        (tmp_path / "c.toml").write_text(f"{name} = {value}\n")
        args += ["--config", str(tmp_path / "c.toml")]
    assert refusal(sqlqueue(*args, **env)) == f"sqlqueue: {name} must be at least 1"
    assert not (tmp_path / "q.db").exists()  # nothing started


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
@pytest.mark.parametrize(
    "args", [["db", "upgrade"], ["db", "current"], ["gc"], ["serve"]], ids=" ".join
)
def test_an_in_memory_database_url(sqlqueue: Run, url: str, args: list[str]) -> None:
    if args == ["serve"]:
        args = ["serve", "--port", str(free_port())]
    result = sqlqueue(*args, "--database-url", url)
    assert refusal(result) == (
        f"sqlqueue: {url} is an in-memory SQLite database, which every connection sees empty: "
        f"give --database-url a file path, e.g. {FILE_EXAMPLE}"
    )
    assert result.stdout == ""


def test_an_in_memory_pool(sqlqueue: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    result = sqlqueue("pool", "add", "p1", "sqlite:///:memory:", "--database-url", url)
    assert refusal(result) == (
        "sqlqueue: Bad pool URI: sqlite:///:memory: is an in-memory SQLite database, which "
        f"every connection sees empty: give a pool a file path, e.g. {FILE_EXAMPLE}"
    )


@pytest.mark.parametrize(
    ("blob_store", "expected"),
    [
        (
            "notaurl",
            "sqlqueue: blob_store 'notaurl' is not a directory or database URL: write it like "
            "file:///var/lib/sqlqueue/blobs or sqlite:////var/lib/sqlqueue/q.db, "
            "postgresql://user@host/dbname or mysql+pymysql://user@host/dbname",
        ),
        (
            "sqlite://",
            "sqlqueue: sqlite:// is an in-memory SQLite database, which every connection sees "
            f"empty: give blob_store a file path, e.g. {FILE_EXAMPLE}",
        ),
        (
            "oracle://scott@db.example/orcl",
            "sqlqueue: sqlqueue does not run on 'oracle' databases "
            "(oracle://scott@db.example/orcl): use a URL like sqlite:////var/lib/sqlqueue/q.db, "
            "postgresql://user@host/dbname or mysql+pymysql://user@host/dbname",
        ),
    ],
)
@pytest.mark.parametrize("args", [["gc"], ["db", "upgrade"]], ids=" ".join)
def test_a_bad_blob_store(
    sqlqueue: Run, tmp_path: Path, blob_store: str, expected: str, args: list[str]
) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    result = sqlqueue(*args, "--database-url", url, SQLQUEUE_BLOB_STORE=blob_store)
    assert refusal(result) == expected


def test_a_directory_blob_store_is_fine(sqlqueue: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    blobs = f"file://{tmp_path}/blobs"
    assert sqlqueue("db", "upgrade", "--database-url", url).returncode == 0
    result = sqlqueue("gc", "--database-url", url, SQLQUEUE_BLOB_STORE=blobs)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
