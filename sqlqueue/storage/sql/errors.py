"""Translate database URLs' and drivers' failures into sqlqueue's exception tree.

The one place that words them for people: the CLI prints the description as
its one line, the admin API returns it for a pool it refuses, and the HTTP
transport shows its own text for 503s (so a description here names hosts and
commands, never HTTP). Every description says what is wrong and what to do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import URL, make_url

from sqlqueue import errors
from sqlqueue.observe.metrics import DATABASE_ERRORS

logger = logging.getLogger(__name__)

# MySQL 1213 deadlock, 1205 lock wait timeout; PostgreSQL 40P01 deadlock,
# 40001 serialization failure; SQLite "database is locked" past the timeout.
_RETRYABLE_CODES = {1213, 1205}
_RETRYABLE_PGCODES = {"40P01", "40001"}

BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
URL_EXAMPLES = (
    "sqlite:////var/lib/sqlqueue/q.db, postgresql://user@host/dbname "
    "or mysql+pymysql://user@host/dbname"
)
# Driver modules whose pip package has another name.
_PACKAGES = {"psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient", "psycopg": "psycopg[binary]"}
# Error codes: PostgreSQL SQLSTATEs and MySQL client/server error numbers.
_PG_MISSING, _PG_AUTH = {"3D000"}, {"28P01", "28000"}
_MY_MISSING, _MY_AUTH, _MY_DOWN = {1049}, {1044, 1045, 1698}, {2002, 2003, 2005, 2006, 2013}
_UNKNOWN_OPTION = re.compile(r"unexpected keyword argument|invalid dsn|invalid connection option")
_PG_MISSING_TEXT = re.compile(r'database "[^"]*" does not exist')
_PG_AUTH_TEXT = re.compile(r"authentication failed|role \"[^\"]*\" does not exist|pg_hba\.conf")
_PG_DOWN_TEXT = re.compile(
    r"Connection refused|could not translate host name|timeout expired|could not connect|"
    r"No route to host|Network is unreachable|server closed the connection|Connection timed out"
)


def is_retryable(ex: exc.DBAPIError) -> bool:
    """Whether the whole transaction should simply be run again."""
    orig = ex.orig
    pgcode = getattr(orig, "pgcode", None)
    if pgcode in _RETRYABLE_PGCODES:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _RETRYABLE_CODES:
        return True
    return "database is locked" in str(orig)


def safe_url(url: str | URL) -> str:
    """``url`` without its password (a malformed one with anything like a password masked)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", str(url))


def describe(url: str | URL) -> str:
    """Where the database is, for people: ``SQLite database PATH`` or ``database URL``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite database {parsed.database or ':memory:'}"
    return f"database {safe_url(parsed)}"


def check_url(url: str) -> URL:
    """``url`` parsed, if it names a database sqlqueue runs on.

    :raises BadDatabaseUrl: malformed, ``postgres://`` (SQLAlchemy wants
        ``postgresql://``) or a backend other than SQLite, PostgreSQL, MySQL.
    """
    try:
        parsed = make_url(url)
    except exc.ArgumentError as ex:
        raise errors.BadDatabaseUrl(
            f"{safe_url(url)!r} is not a database URL: write it like {URL_EXAMPLES}"
        ) from ex
    backend = parsed.get_backend_name()
    if backend == "postgres":
        fixed = parsed.set(drivername="postgresql" + parsed.drivername[len("postgres") :])
        raise errors.BadDatabaseUrl(
            f"SQLAlchemy does not know the scheme {parsed.drivername}://: write {safe_url(fixed)}"
        )
    if backend not in BACKENDS:
        raise errors.BadDatabaseUrl(
            f"sqlqueue does not run on {backend!r} databases ({safe_url(parsed)}): "
            f"use a URL like {URL_EXAMPLES}"
        )
    return parsed


FILE_EXAMPLE = "sqlite:////var/lib/sqlqueue/sqlqueue.db"


def in_memory(url: URL) -> bool:
    """Whether ``url`` is a SQLite database in memory (``sqlite://``, ``sqlite:///``,
    ``sqlite:///:memory:``, ``sqlite:///file::memory:``, ``?mode=memory``)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite":
        return False
    memory = database in ("", ":memory:") or database.startswith("file::memory:")
    return memory or url.query.get("mode") == "memory"


def check_file(url: str, what: str) -> None:
    """Refuse an in-memory SQLite ``url`` for ``what`` (e.g. ``--database-url``).

    :raises BadDatabaseUrl: malformed (as ``check_url``) or SQLite in memory,
        which every connection and process sees empty.
    """
    if in_memory(check_url(url)):
        raise errors.BadDatabaseUrl(
            f"{url} is an in-memory SQLite database, which every connection sees empty: "
            f"give {what} a file path, e.g. {FILE_EXAMPLE}"
        )


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (None in memory or for other backends)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def missing_sqlite(url: URL) -> errors.DatabaseMissing:
    """The error for a SQLite file whose directory does not exist."""
    path = sqlite_path(url)
    parent = path.parent if path else "?"
    return errors.DatabaseMissing(
        f"SQLite database {path} does not exist (there is no directory {parent}): correct "
        f"the path, or create it with `sqlqueue db upgrade --database-url {safe_url(url)}`"
    )


@dataclass(frozen=True)
class _Where:
    """The parts of a URL that messages name (password hidden)."""

    url: URL | None

    @property
    def backend(self) -> str:
        return self.url.get_backend_name() if self.url is not None else ""

    @property
    def server(self) -> str:
        if self.url is None:
            return "the database server"
        name = BACKENDS.get(self.backend, self.backend)
        host = self.url.host or "localhost"
        return f"the {name} server at {host}:{self.url.port or DEFAULT_PORTS.get(self.backend)}"

    @property
    def safe(self) -> str:
        return safe_url(self.url) if self.url is not None else "the database URL"

    def create_command(self) -> str:
        """The shell command that creates the URL's database on its server."""
        assert self.url is not None
        url, user = self.url, self.url.username or ""
        host, port = url.host or "localhost", url.port or DEFAULT_PORTS.get(self.backend)
        if self.backend == "postgresql":
            return f"createdb -h {host} -p {port} -U {user or 'postgres'} {url.database}"
        return f"mysql -h {host} -P {port} -u {user or 'root'} -e 'CREATE DATABASE {url.database}'"


def _first_line(ex: BaseException) -> str:
    lines = [line.strip() for line in str(ex).splitlines() if line.strip()]
    return lines[0] if lines else type(ex).__name__


def _kind(orig: BaseException) -> str:
    """``missing``, ``auth``, ``down`` or ``other``, from a driver's connect error."""
    text = str(orig)
    code = getattr(orig, "pgcode", None)
    args = getattr(orig, "args", ())
    number = args[0] if args and isinstance(args[0], int) else None
    if code in _PG_MISSING or number in _MY_MISSING or _PG_MISSING_TEXT.search(text):
        return "missing"
    if code in _PG_AUTH or number in _MY_AUTH or _PG_AUTH_TEXT.search(text):
        return "auth"
    if number in _MY_DOWN or _PG_DOWN_TEXT.search(text):
        return "down"
    return "other"


def _reason(orig: BaseException) -> str:
    """The driver's own few words: ``connection refused``, ``role "x" does not exist``."""
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    text = str(args[1]) if len(args) > 1 and isinstance(args[0], int) else str(orig)
    if "could not translate host name" in text:
        return "unknown host"
    if "timeout expired" in text:
        return "no answer within the connect timeout"
    found = (
        re.search(r"\[Errno -?\d+\] ([^)\n]*)", text)
        or re.search(r"FATAL:\s+(.*)", text)
        or re.search(r"failed: (.*)", text)
    )
    text = (found.group(1) if found else _first_line(Exception(text))).strip()
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _sqlite_error(ex: BaseException, where: _Where) -> errors.SqlqueueError:
    path = sqlite_path(where.url) if where.url is not None else None
    text = _first_line(ex)
    if path is not None and not path.parent.is_dir():
        assert where.url is not None
        return missing_sqlite(where.url)
    if "file is not a database" in text:
        return errors.StorageUnavailable(
            f"{path} is not a SQLite database: point the URL at a sqlqueue database or a new file"
        )
    if "unable to open database file" in text:
        return errors.StorageUnavailable(
            f"cannot open the SQLite database {path} ({text}): check that it is a file "
            "you may read and write, in a directory you may write"
        )
    return errors.StorageUnavailable(f"the SQLite database {path} failed: {text}")


_UNLOCATED = {  # a driver error with no URL at hand (a connection lost mid-work)
    "missing": (errors.DatabaseMissing, "the database does not exist"),
    "auth": (errors.DatabaseAccessDenied, "the database server refused the user"),
    "down": (errors.DatabaseUnreachable, "cannot reach the database server"),
    "other": (errors.StorageUnavailable, "the database failed"),
}


def _driver_error(ex: exc.DBAPIError, where: _Where) -> errors.SqlqueueError:
    orig = ex.orig if ex.orig is not None else ex
    if where.backend == "sqlite" or type(orig).__module__ == "sqlite3":
        return _sqlite_error(orig, where)
    kind, reason, url = _kind(orig), _reason(orig), where.url
    if url is None:
        kind_class, text = _UNLOCATED[kind]
        return kind_class(f"{text} ({reason})")
    if kind == "missing":
        return errors.DatabaseMissing(
            f'database "{url.database}" does not exist on {where.server}: create it '
            f"(`{where.create_command()}`) or correct the database name in {where.safe}"
        )
    if kind == "auth":
        user = f' user "{url.username}"' if url.username else ""
        return errors.DatabaseAccessDenied(
            f"{where.server} refused{user} ({reason}): correct the user or password in {where.safe}"
        )
    if kind == "down":
        return errors.DatabaseUnreachable(
            f"cannot reach {where.server} ({reason}): start it, "
            f"or correct the host and port in {where.safe}"
        )
    return errors.StorageUnavailable(f"{where.server} failed: {_first_line(orig)}")


def _missing_driver(ex: ImportError, where: _Where) -> errors.BadDatabaseUrl:
    module = (ex.name or "").split(".")[0] or _first_line(ex)
    scheme = where.url.drivername if where.url is not None else "this"
    default = {"postgresql": "postgresql://", "mysql": "mysql+pymysql://"}.get(where.backend)
    instead = f", or use {default} (its driver comes with sqlqueue)" if default else ""
    return errors.BadDatabaseUrl(
        f"the Python module {module!r} that {scheme}:// URLs need is not installed: "
        f"`pip install {_PACKAGES.get(module, module)}`{instead}"
    )


def explain(ex: BaseException, url: str | URL | None = None) -> errors.SqlqueueError:
    """The sqlqueue error, worded for people, for a failure opening or using ``url``.

    ``ex`` is a SQLAlchemy or driver error, an ImportError of a missing DBAPI
    module or an OSError creating a SQLite file's directory; an error that is
    already sqlqueue's is returned as it is.
    """
    if isinstance(ex, errors.SqlqueueError):
        return ex
    if isinstance(url, str):
        try:
            url = check_url(url)
        except errors.BadDatabaseUrl as bad:
            return bad
    where = _Where(url)
    if isinstance(ex, exc.NoSuchModuleError):
        driver = where.url.drivername if where.url is not None else "?"
        return errors.BadDatabaseUrl(
            f"SQLAlchemy has no driver {driver!r} ({where.safe}): use a URL like {URL_EXAMPLES}"
        )
    if isinstance(ex, exc.ArgumentError):
        return errors.BadDatabaseUrl(f"{where.safe} cannot be used: {_first_line(ex)}")
    if isinstance(ex, ImportError):
        return _missing_driver(ex, where)
    if isinstance(ex, TypeError) or _UNKNOWN_OPTION.search(str(getattr(ex, "orig", ""))):
        return _bad_option(getattr(ex, "orig", None) or ex, where)
    if isinstance(ex, exc.DBAPIError):
        return _driver_error(ex, where)
    if isinstance(ex, OSError) and where.backend == "sqlite":
        return errors.StorageUnavailable(
            f"cannot create the SQLite database {ex.filename or where.safe} "
            f"({ex.strerror or ex}): choose a path you may write to"
        )
    if isinstance(ex, exc.TimeoutError):
        return errors.StorageUnavailable(
            f"every connection to {where.safe} is in use (the pool is exhausted)"
        )
    return errors.StorageUnavailable(f"{where.safe} failed: {type(ex).__name__}: {ex}")


TRANSLATED = (exc.SQLAlchemyError, ImportError, OSError)


@contextmanager
def explained(url: str | URL) -> Iterator[None]:
    """Raise what opening or using ``url`` fails with as a sqlqueue error worded for people."""
    try:
        yield
    except TRANSLATED as ex:
        raise explain(ex, url) from ex
    except TypeError as ex:  # a driver given a URL query option it has no parameter for
        if _UNKNOWN_OPTION.search(str(ex)) is None:
            raise
        raise explain(ex, url) from ex


def _bad_option(ex: BaseException, where: _Where) -> errors.BadDatabaseUrl:
    return errors.BadDatabaseUrl(
        f"{where.safe} has an option the driver does not accept ({_first_line(ex)}): "
        "remove it from the URL"
    )


class wrap_db_errors:
    """Turn connection and operational failures into StorageUnavailable (worded neutrally).

    PERF: a class, not a ``contextlib.contextmanager`` generator: it wraps
    every unit of work (``Database.run``), where the generator's set-up and
    tear-down were a fifth of an empty unit's instructions (valgrind).
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, ex: BaseException | None, _traceback: Any) -> None:
        if isinstance(ex, exc.DBAPIError):
            if (
                isinstance(ex, (exc.OperationalError, exc.InterfaceError))
                or ex.connection_invalidated
            ):
                found = explain(ex)
                logger.warning("storage unavailable: %s", found)
                DATABASE_ERRORS.inc()
                if not isinstance(found, errors.StorageUnavailable):
                    found = errors.StorageUnavailable(str(found))
                raise found from ex
        elif isinstance(ex, exc.TimeoutError):
            DATABASE_ERRORS.inc()
            raise errors.StorageUnavailable("Storage connection pool exhausted.") from ex
