"""Every mistake a new user can make with ``sqlqueue`` is one line saying what to type.

Each test runs the console script as a subprocess against real things: an
address nothing listens on, a database missing from the test servers, a
role that does not exist, a port this test holds, a database at an old
schema. Each asserts the whole line, the exit status and no traceback.
"""

from __future__ import annotations

import re
import shlex
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.engine import make_engine
from tests.cli.conftest import Run, free_port, refusal
from tests.conftest import ServerUrls

DOWN = "postgresql://postgres@127.0.0.1:1/x"
UNREACHABLE = (
    "sqlqueue: cannot reach the PostgreSQL server at 127.0.0.1:1 (connection refused): "
    f"start it, or correct the host and port in {DOWN}"
)
EXAMPLES = (
    "sqlite:////var/lib/sqlqueue/q.db, postgresql://user@host/dbname "
    "or mysql+pymysql://user@host/dbname"
)
HEAD = migrate.head_revision()


def sqlite_url(tmp_path: Path, name: str = "q") -> str:
    return f"sqlite:///{tmp_path}/{name}.db"


def stale_refusal(url: str, where: str, revision: str = "0002") -> str:
    return (
        f"sqlqueue: the {where} is at schema revision {revision} but this sqlqueue needs "
        f"{HEAD}: run `sqlqueue db upgrade --database-url {url}`"
    )


# --- URLs -------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_malformed_url(sqlqueue: Run) -> None:
    result = sqlqueue("--database-url", "notaurl", "db", "current")
    assert refusal(result) == (
        f"sqlqueue: 'notaurl' is not a database URL: write it like {EXAMPLES}"
    )


@pytest.mark.sqlite
def test_postgres_scheme_suggests_postgresql(sqlqueue: Run) -> None:
    result = sqlqueue("gc", "--database-url", "postgres://app:secret@db.example/queues")
    assert refusal(result) == (
        "sqlqueue: SQLAlchemy does not know the scheme postgres://: "
        "write postgresql://app:***@db.example/queues"
    )


@pytest.mark.sqlite
def test_a_database_sqlqueue_does_not_run_on(sqlqueue: Run) -> None:
    result = sqlqueue("db", "current", "--database-url", "oracle://scott@db.example/orcl")
    assert refusal(result) == (
        "sqlqueue: sqlqueue does not run on 'oracle' databases (oracle://scott@db.example/orcl):"
        f" use a URL like {EXAMPLES}"
    )


@pytest.mark.sqlite
def test_a_missing_driver(sqlqueue: Run) -> None:
    try:
        import MySQLdb  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("mysqlclient is installed here")
    result = sqlqueue("db", "current", "--database-url", "mysql+mysqldb://root@127.0.0.1/x")
    assert refusal(result) == (
        "sqlqueue: the Python module 'MySQLdb' that mysql+mysqldb:// URLs need is not installed:"
        " `pip install mysqlclient`, or use mysql+pymysql:// (its driver comes with sqlqueue)"
    )


@pytest.mark.postgresql
def test_an_option_the_driver_does_not_accept(sqlqueue: Run, server_urls: ServerUrls) -> None:
    url = server_urls.url("postgresql", "cli_base") + "?colour=blue"
    assert refusal(sqlqueue("db", "current", "--database-url", url)) == (
        f"sqlqueue: {url} has an option the driver does not accept "
        '(invalid dsn: invalid connection option "colour"): remove it from the URL'
    )


# --- unreachable, missing, refused ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["db", "current"],
        ["db", "check"],
        ["db", "upgrade"],
        ["db", "downgrade", "base"],
        ["pool", "list"],
        ["pool", "add", "p1", "sqlite:////tmp/p1.db"],
        ["pool", "remove", "p1"],
        ["gc"],
        ["serve", "--port", "0"],
    ],
    ids=" ".join,
)
@pytest.mark.sqlite
def test_an_unreachable_postgresql_server(sqlqueue: Run, args: list[str]) -> None:
    if args[0] == "serve":
        args = ["serve", "--port", str(free_port())]
    result = sqlqueue(*args, "--database-url", DOWN)
    assert refusal(result) == UNREACHABLE
    assert result.stdout == ""


@pytest.mark.sqlite
def test_an_unreachable_mysql_server(sqlqueue: Run) -> None:
    port = free_port()
    url = f"mysql+pymysql://root@127.0.0.1:{port}/x"
    assert refusal(sqlqueue("db", "current", "--database-url", url)) == (
        f"sqlqueue: cannot reach the MySQL server at 127.0.0.1:{port} (connection refused): "
        f"start it, or correct the host and port in {url}"
    )


@pytest.mark.sqlite
def test_gc_speaks_no_http(sqlqueue: Run) -> None:
    result = sqlqueue("gc", "--database-url", DOWN)
    assert refusal(result) == UNREACHABLE
    assert "temporarily unavailable" not in result.stderr.lower()


@pytest.mark.sqlite
def test_gc_words_a_pool_lost_mid_work_without_http(sqlqueue: Run, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "catalogue")
    assert sqlqueue("db", "upgrade", "--database-url", url).returncode == 0
    with sqlite3.connect(tmp_path / "catalogue.db") as conn:  # registered, then lost
        conn.execute("INSERT INTO pools VALUES ('gone', ?, 1, NULL, '{}')", (DOWN,))
    result = sqlqueue("gc", "--database-url", url)
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "removed 0 expired rows")
    assert re.search(
        r"^gc skipped an unavailable \w+: cannot reach the database server \(connection refused\)$",
        result.stderr,
        re.MULTILINE,
    )
    assert "temporarily unavailable" not in result.stderr.lower()


@pytest.mark.postgresql
def test_a_missing_postgresql_database(sqlqueue: Run, server_urls: ServerUrls) -> None:
    base = make_url(server_urls.url("postgresql", "cli_base"))
    url = base.set(database="sqlqueue_no_such_db")
    shown = url.render_as_string(hide_password=True)
    host, port, user = url.host, url.port or 5432, url.username
    result = sqlqueue("db", "current", "--database-url", url.render_as_string(False))
    assert refusal(result) == (
        f'sqlqueue: database "sqlqueue_no_such_db" does not exist on the PostgreSQL server at '
        f"{host}:{port}: create it (`createdb -h {host} -p {port} -U {user} sqlqueue_no_such_db`)"
        f" or correct the database name in {shown}"
    )


@pytest.mark.mysql
def test_a_missing_mysql_database(sqlqueue: Run, server_urls: ServerUrls) -> None:
    url = make_url(server_urls.url("mysql", "cli_base")).set(database="sqlqueue_no_such_db")
    shown = url.render_as_string(hide_password=True)
    host, port, user = url.host, url.port or 3306, url.username
    result = sqlqueue("gc", "--database-url", url.render_as_string(False))
    assert refusal(result) == (
        f'sqlqueue: database "sqlqueue_no_such_db" does not exist on the MySQL server at '
        f"{host}:{port}: create it (`mysql -h {host} -P {port} -u {user} -e "
        f"'CREATE DATABASE sqlqueue_no_such_db'`) or correct the database name in {shown}"
    )


@pytest.mark.sqlite
def test_a_sqlite_file_in_a_missing_directory(sqlqueue: Run, tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "q.db"
    result = sqlqueue("gc", "--database-url", f"sqlite:///{path}")
    assert refusal(result) == (
        f"sqlqueue: SQLite database {path} does not exist (there is no directory {path.parent}):"
        f" correct the path, or create it with `sqlqueue db upgrade --database-url "
        f"sqlite:///{path}`"
    )
    assert not path.parent.exists()  # gc created nothing


@pytest.mark.postgresql
def test_an_unknown_postgresql_role(sqlqueue: Run, server_urls: ServerUrls) -> None:
    url = make_url(server_urls.url("postgresql", "cli_base")).set(
        username="sqlqueue_nobody", password=None
    )
    host, port = url.host, url.port or 5432
    result = sqlqueue("pool", "list", "--database-url", url.render_as_string(False))
    reason = r'role "sqlqueue_nobody" does not exist|password authentication failed for user .*'
    assert re.fullmatch(
        rf"sqlqueue: the PostgreSQL server at {re.escape(f'{host}:{port}')} refused user "
        rf'"sqlqueue_nobody" \(({reason})\): correct the user or password in '
        + re.escape(url.render_as_string(hide_password=True)),
        refusal(result),
    )


@pytest.mark.mysql
def test_an_unknown_mysql_user(sqlqueue: Run, server_urls: ServerUrls) -> None:
    url = make_url(server_urls.url("mysql", "cli_base")).set(
        username="sqlqueue_nobody", password=None
    )
    host, port = url.host, url.port or 3306
    result = sqlqueue("db", "check", "--database-url", url.render_as_string(False))
    assert re.fullmatch(
        rf"sqlqueue: the MySQL server at {re.escape(f'{host}:{port}')} refused user "
        r"\"sqlqueue_nobody\" \(access denied for user 'sqlqueue_nobody'@'[^']*'.*\): "
        "correct the user or password in " + re.escape(url.render_as_string(True)),
        refusal(result),
    )


# --- serve ------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_busy_port(sqlqueue: Run, busy_port: int, tmp_path: Path) -> None:
    result = sqlqueue("serve", "--port", str(busy_port), "--database-url", sqlite_url(tmp_path))
    assert refusal(result) == (
        f"sqlqueue: port {busy_port} on 127.0.0.1 is already in use by another program: "
        "stop it, or choose another port with --port"
    )
    assert result.stdout == ""  # no "listening on" first


@pytest.mark.sqlite
def test_a_host_that_is_not_this_machine(sqlqueue: Run, tmp_path: Path) -> None:
    result = sqlqueue("serve", "--host", "192.0.2.1", "--database-url", sqlite_url(tmp_path))
    assert refusal(result) == (
        "sqlqueue: 192.0.2.1 is not an address of this machine: choose one with --host "
        "(127.0.0.1, or 0.0.0.0 for every interface)"
    )


@pytest.mark.sqlite
def test_a_port_out_of_range(sqlqueue: Run, tmp_path: Path) -> None:
    result = sqlqueue("serve", "--port", "70000", "--database-url", sqlite_url(tmp_path))
    assert refusal(result) == (
        "sqlqueue: port 70000 is not between 1 and 65535: choose one with --port"
    )


# --- the schema gate ------------------------------------------------------------------


@pytest.mark.postgresql
def test_a_stale_server_schema_names_the_command_that_fixes_it(
    sqlqueue: Run, server_urls: ServerUrls
) -> None:
    url = server_urls.url("postgresql", "cli_stale")
    engine = make_engine(url)
    migrate.upgrade(engine, "0002")
    engine.dispose()
    shown = make_url(url).render_as_string(hide_password=True)
    expected = stale_refusal(shown, f"database {shown}")
    for args in (["gc"], ["pool", "list"], ["serve", "--port", str(free_port())]):
        result = sqlqueue(*args, "--database-url", url)
        assert refusal(result) == expected, args
    assert refusal(sqlqueue("db", "check", "--database-url", url), status=1) == expected

    advice = re.search(r"`(sqlqueue db upgrade [^`]*)`", expected)
    assert advice is not None
    followed = sqlqueue(*shlex.split(advice.group(1))[1:])  # typed as printed
    assert followed.returncode == 0, followed.stderr
    swept = sqlqueue("gc", "--database-url", url)
    assert (swept.returncode, swept.stdout.splitlines()[0]) == (0, "removed 0 expired rows")


@pytest.mark.sqlite
def test_a_database_of_someone_else(sqlqueue: Run, tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    result = sqlqueue("gc", "--database-url", f"sqlite:///{path}")
    assert refusal(result) == (
        f"sqlqueue: the SQLite database {path} is not empty and holds no sqlqueue schema "
        "(tables: invoices, ...): give sqlqueue a database of its own"
    )


@pytest.mark.sqlite
def test_a_database_from_a_newer_sqlqueue(sqlqueue: Run, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert sqlqueue("db", "upgrade", "--database-url", url).returncode == 0
    with sqlite3.connect(tmp_path / "q.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    result = sqlqueue("serve", "--port", str(free_port()), "--database-url", url)
    assert refusal(result) == (
        f"sqlqueue: the SQLite database {tmp_path}/q.db is at schema revision 9999, which this "
        f"sqlqueue (at {HEAD}) does not know: a newer sqlqueue migrated it; upgrade sqlqueue "
        "(`pip install --upgrade sqlqueue`)"
    )


@pytest.mark.sqlite
def test_an_unknown_revision(sqlqueue: Run, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    result = sqlqueue("db", "downgrade", "zzz", "--database-url", url)
    known = ", ".join(sorted(migrate.known_revisions()))
    assert refusal(result) == (
        f"sqlqueue: cannot migrate the SQLite database {tmp_path}/q.db to 'zzz' "
        f"(Can't locate revision identified by 'zzz'): give one of {known}, head or base"
    )


# --- help and options -----------------------------------------------------------------


@pytest.mark.sqlite
def test_top_level_help_is_plain_text(sqlqueue: Run) -> None:
    shown = sqlqueue("--help")
    assert shown.returncode == 0
    assert "``" not in shown.stdout and "--database-url URL" in shown.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["serve"],
        ["gc"],
        ["db"],
        ["db", "upgrade"],
        ["db", "downgrade"],
        ["db", "current"],
        ["db", "check"],
        ["pool"],
        ["pool", "add"],
        ["pool", "list"],
        ["pool", "remove"],
    ],
    ids=" ".join,
)
@pytest.mark.sqlite
def test_every_command_shows_database_url_in_its_help(sqlqueue: Run, args: list[str]) -> None:
    shown = sqlqueue(*args, "--help")
    assert shown.returncode == 0
    assert "--database-url URL" in shown.stdout
    assert "``" not in shown.stdout


@pytest.mark.sqlite
def test_database_url_after_the_command(sqlqueue: Run, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert sqlqueue("db", "upgrade", "--database-url", url).returncode == 0
    after = sqlqueue("gc", "--database-url", url)
    before = sqlqueue("--database-url", url, "gc")
    for result in (after, before):
        assert (result.returncode, result.stdout.splitlines()[0], result.stderr) == (
            0,
            "removed 0 expired rows",
            "",
        )


@pytest.mark.sqlite
def test_gc_reports_its_maintenance_step(sqlqueue: Run, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert sqlqueue("db", "upgrade", "--database-url", url).returncode == 0
    result = sqlqueue("gc", "--database-url", url)
    assert result.returncode == 0
    assert result.stdout.splitlines()[1].startswith("maintenance: ANALYZE (analysis_limit)")
    assert "WAL truncated" in result.stdout
    off = sqlqueue("gc", "--database-url", url, SQLQUEUE_MAINTENANCE="false")
    assert off.stdout.splitlines() == ["removed 0 expired rows", "maintenance: off"]


@pytest.mark.sqlite
def test_gc_refuses_a_negative_rate_cap(sqlqueue: Run, tmp_path: Path) -> None:
    result = sqlqueue("gc", "--database-url", sqlite_url(tmp_path), SQLQUEUE_GC_RATE="-5")
    assert refusal(result) == (
        "sqlqueue: gc_rate must be 0 (no cap) or a number of rows per second above 0, not -5.0"
    )


@pytest.mark.sqlite
def test_a_missing_configuration_file(sqlqueue: Run, tmp_path: Path) -> None:
    result = sqlqueue("gc", "--config", f"{tmp_path}/nope.toml")
    assert refusal(result) == (
        f"sqlqueue: cannot read the configuration file {tmp_path}/nope.toml "
        "(No such file or directory): correct --config or SQLQUEUE_CONFIG"
    )


@pytest.mark.sqlite
def test_a_configuration_file_that_is_not_toml(sqlqueue: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("port = \n")
    result = sqlqueue("db", "current", SQLQUEUE_CONFIG=str(path))
    assert refusal(result) == (
        f"sqlqueue: the configuration file {path} is not valid TOML: "
        "Invalid value (at line 1, column 8)"
    )


# --- the unexpected -----------------------------------------------------------------


@pytest.mark.sqlite
def test_an_internal_error_is_one_line_unless_debugging(sqlqueue: Run, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "catalogue")
    assert sqlqueue("pool", "add", "p1", sqlite_url(tmp_path, "p1"), "--database-url", url)
    with sqlite3.connect(tmp_path / "catalogue.db") as conn:  # a damaged row
        conn.execute("UPDATE pools SET options = '{'")
    result = sqlqueue("pool", "list", "--database-url", url)
    assert refusal(result, status=1) == (
        "sqlqueue: internal error: JSONDecodeError: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1) (run with SQLQUEUE_DEBUG=1 for the traceback)"
    )
    debugging = sqlqueue("pool", "list", "--database-url", url, SQLQUEUE_DEBUG="1")
    assert debugging.returncode == 1
    assert "Traceback" in debugging.stderr and "JSONDecodeError" in debugging.stderr
