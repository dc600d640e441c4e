"""The hot statements, compiled once per dialect and run on the transaction's DB-API cursor.

PERF: a prebuilt Core statement still costs SQLAlchemy about 35 us of
Python per execution on a cached compilation (execution context, result
metadata, ``Row`` objects), against about 15 us for the same statement on
the DB-API cursor (bench/cpu_bench.py, docs/performance.md). The hot paths
(post, claim, delete, stats) send three or four statements per request, so
``execute`` runs them on the cursor of the connection the ``Connection``
already holds, inside its transaction: SQLAlchemy still opens, commits and
pools the connections, and the SQL text is still the Core statement's.

Only statements whose columns need no bind or result processing may run
here (integers and text, JSON encoded by hand: storage/sql/tables.py).
Whenever cursor-execute listeners are registered (the statement counters of
the tests and benches), a statement goes through ``exec_driver_sql`` so that
they see it. Driver errors are raised as SQLAlchemy raises them
(``DBAPIError`` subclasses, the connection invalidated on a disconnect), so
``Database.run``'s retries and ``wrap_db_errors`` treat them alike.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass
class Prepared:
    """A statement compiled for one dialect: its SQL and how to lay its parameters out."""

    sql: str
    defaults: dict[str, Any]
    """Values of the binds the statement fixes itself (a ``LIMIT 1``, a ``+ 1``)."""
    order: tuple[str, ...] | None
    """Parameter names in position order (qmark/format dialects); None: by name."""
    make: Callable[[Any], Any] | None = field(default=None)
    """Its rows' namedtuple made from a DB-API row (``_row_maker``, from the first
    cursor description)."""

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The DB-API parameters for ``values`` (by name), defaults filled in."""
        merged = {**self.defaults, **values} if self.defaults else values
        if self.order is None:
            return merged
        return tuple(merged[name] for name in self.order)


_PREPARED: dict[tuple[str, str], dict[int, tuple[sa.ClauseElement, Prepared]]] = {}
"""By (dialect name, paramstyle), then by ``id`` of the statement: its compiled form."""
_NONE: dict[int, tuple[sa.ClauseElement, Prepared]] = {}
"""What ``prepare`` looks in for a dialect nothing was compiled for yet."""


def prepare(stmt: sa.ClauseElement, dialect: Dialect) -> Prepared:
    """``stmt`` compiled for ``dialect``, once (statements are module constants)."""
    found = _PREPARED.get((dialect.name, dialect.paramstyle), _NONE).get(id(stmt))
    if found is not None:
        return found[1]
    return _compile(stmt, dialect)


def _compile(stmt: sa.ClauseElement, dialect: Dialect) -> Prepared:
    compiled = stmt.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    binds = compiled.binds
    defaults = {name: value for name, value in compiled.params.items() if not binds[name].required}
    prepared = Prepared(compiled.string, defaults, order)
    # the statement is kept alive with its compiled form: its id stays its own
    _compiled(dialect)[id(stmt)] = (stmt, prepared)
    return prepared


def _compiled(dialect: Dialect) -> dict[int, tuple[sa.ClauseElement, Prepared]]:
    key = (dialect.name, dialect.paramstyle)
    found = _PREPARED.get(key)
    if found is None:
        found = _PREPARED[key] = {}
    return found


@dataclass
class Result:
    """The rows (attribute access by column label) and the row count of one execution."""

    rows: Sequence[Any]
    rowcount: int

    def first(self) -> Any:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self.rows[0][0] if self.rows else None


def execute(conn: Connection, stmt: sa.ClauseElement, values: Mapping[str, Any]) -> Result:
    """Run the prebuilt ``stmt`` with ``values`` (by bind name) in ``conn``'s transaction.

    :raises sqlalchemy.exc.DBAPIError: the driver refused it (as ``conn.execute`` raises).
    """
    prepared = prepare(stmt, conn.dialect)
    # PERF: no parameter rewriting for a statement whose binds are all named and given.
    if prepared.order is None and not prepared.defaults:
        return _run(conn, prepared, values)
    return _run(conn, prepared, prepared.parameters(values))


_TEXTS: dict[str, Prepared] = {}


def execute_sql(conn: Connection, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> Result:
    """Run driver-level ``sql`` (in the dialect's paramstyle) with ``params`` as ``execute``.

    ``sql`` comes from a bounded set of generated texts (a multi-row INSERT per row count).
    """
    prepared = _TEXTS.get(sql)
    if prepared is None:
        prepared = _TEXTS[sql] = Prepared(sql, {}, None)
    return _run(conn, prepared, params)


def _run(conn: Connection, prepared: Prepared, params: Any) -> Result:
    events = conn.engine.dispatch
    if events.before_cursor_execute or events.after_cursor_execute:
        found = conn.exec_driver_sql(prepared.sql, params)
        rows = list(found) if found.returns_rows else []
        return Result(rows, found.rowcount)
    fairy = conn.connection
    cursor = fairy.info.get(_CURSOR)
    if cursor is None:
        cursor = fairy.info[_CURSOR] = fairy.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(prepared.sql, params)
        if cursor.description is None:
            return Result((), cursor.rowcount)
        make = prepared.make or _row_maker(prepared, cursor)
        return Result(list(map(make, cursor.fetchall())), cursor.rowcount)
    except conn.dialect.loaded_dbapi.Error as ex:
        raise _wrapped(conn, prepared.sql, params, ex, cursor) from ex


_CURSOR = "sqlqueue.hot.cursor"
"""The key of a DB-API connection's own cursor in its pool record's ``info``.

PERF: one cursor per DB-API connection, made on first use and kept as long
as the connection (SQLAlchemy clears ``info`` when it replaces a lost one):
making and closing a cursor per statement cost about 6,000 instructions
(psycopg2, valgrind), and a unit of work sends up to four hot statements.
Every statement's rows are fetched whole, so the cursor holds no open
result between statements.
"""


def _row_maker(prepared: Prepared, cursor: Any) -> Callable[[Any], Any]:
    """What turns one of ``prepared``'s DB-API rows into its namedtuple, made once from
    ``cursor``'s description (``tuple.__new__`` of the class: no Python call per row)."""
    names = [column[0] for column in cursor.description]
    row = namedtuple("HotRow", names, rename=True)  # type: ignore[misc]
    prepared.make = functools.partial(tuple.__new__, row)
    return prepared.make


def _wrapped(conn: Connection, sql: str, params: Any, error: Any, cursor: Any) -> Exception:
    """The SQLAlchemy error for a driver error, invalidating a lost connection first."""
    dialect = conn.dialect
    lost = dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
    if lost:
        conn.invalidate(error)
    wrapped: Exception = exc.DBAPIError.instance(
        sql,
        params,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
    return wrapped
