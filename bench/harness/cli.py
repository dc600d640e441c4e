"""The flags every bench shares, and the loop over backends."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from .databases import DEFAULT_URLS, Database, fresh_database
from .workload import BATCH

R = TypeVar("R")


def add_database_flags(
    parser: argparse.ArgumentParser, backends: str, db_name: str, *, rounds: bool = False
) -> None:
    """``--backends`` (default ``backends``), [with ``rounds``: ``--messages``, ``--rounds``],
    ``--postgres-url``, ``--mysql-url`` and ``--db-name`` (default ``db_name``)."""
    parser.add_argument(
        "--backends", default=backends, help=f"of sqlite,postgresql,mysql (default {backends})"
    )
    if rounds:
        add_round_flags(parser)
    parser.add_argument("--postgres-url", default=DEFAULT_URLS["postgresql"])
    parser.add_argument("--mysql-url", default=DEFAULT_URLS["mysql"])
    parser.add_argument("--db-name", default=db_name)


def add_round_flags(parser: argparse.ArgumentParser) -> None:
    """``--messages`` (per posting workload, default 1000) and ``--rounds`` (default 5)."""
    parser.add_argument(
        "--messages", type=int, default=1000, help="messages per posting workload (default 1000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds per side; the best is kept (default 5)"
    )


def bench_parser(description: str | None, backends: str, db_name: str) -> argparse.ArgumentParser:
    """A parser with the database and round flags; add the bench's own, then ``parse``."""
    parser = argparse.ArgumentParser(description=(description or "").split("\n\n")[0])
    add_database_flags(parser, backends, db_name, rounds=True)
    return parser


def parse(
    parser: argparse.ArgumentParser, argv: list[str] | None, at_least_one: tuple[str, ...] = ()
) -> argparse.Namespace:
    """Parse; refuse ``--messages`` not a multiple of ``BATCH`` and counts below 1.

    ``at_least_one`` names further integer options (``"workers"``) that must be >= 1.
    """
    args = parser.parse_args(argv)
    if args.messages < BATCH or args.messages % BATCH:
        parser.error(f"--messages must be a positive multiple of {BATCH}")
    require_positive(parser, args, ("rounds", *at_least_one))
    return args


def require_positive(
    parser: argparse.ArgumentParser, args: argparse.Namespace, options: tuple[str, ...]
) -> None:
    """Exit with a usage error unless each integer option in ``options`` is at least 1."""
    for option in options:
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")


def backend_names(args: argparse.Namespace) -> list[str]:
    """The names in ``--backends``, in order."""
    return [name.strip() for name in args.backends.split(",") if name.strip()]


def server_urls(args: argparse.Namespace) -> dict[str, str]:
    """``{"postgresql": --postgres-url, "mysql": --mysql-url}``."""
    return {"postgresql": args.postgres_url, "mysql": args.mysql_url}


def run_backends(
    args: argparse.Namespace, bench: Callable[[Database], R], prefix: str = "sqlqueue-bench-"
) -> dict[str, R]:
    """``bench`` on a fresh database of each of ``--backends``: results by backend name.

    A backend whose server cannot be reached is skipped with a line on stderr.
    """
    results: dict[str, R] = {}
    for name in backend_names(args):
        try:
            with fresh_database(name, server_urls(args), args.db_name, prefix) as db:
                results[name] = bench(db)
        except sa.exc.OperationalError as ex:
            print(f"{name}: unreachable, skipped ({ex.orig})", file=sys.stderr)
    return results


def finish(results: dict[str, R], print_tables: Callable[[dict[str, R]], None]) -> int:
    """The exit status: 1 if no backend ran, else 0 after a blank line and the tables."""
    if not results:
        print("no backend could be benchmarked", file=sys.stderr)
        return 1
    print()
    print_tables(results)
    return 0
