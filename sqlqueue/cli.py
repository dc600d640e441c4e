"""The ``sqlqueue`` command: serve the API and manage the schema.

sqlqueue serve [--host H] [--port P] [--workers N] [--database-url URL] [--admin]
sqlqueue db upgrade|downgrade REV|current|check [--database-url URL]
sqlqueue pool add NAME URI [--weight N] [--flavor F] [--option KEY=VALUE ...]
sqlqueue pool list | remove NAME
sqlqueue gc [--database-url URL]

``--database-url`` names the catalogue database: the one every sqlqueue
process is configured with, which also records the pools.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

from sqlqueue import __version__
from sqlqueue.config import Settings
from sqlqueue.errors import SqlqueueError, ValidationFailed

DEFAULT_WEIGHT = 100


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqlqueue", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sqlqueue {__version__}")
    parser.add_argument("--config", help="TOML configuration file (or SQLQUEUE_CONFIG)")
    parser.add_argument("--database-url", help="SQLAlchemy database URL (or SQLQUEUE_DATABASE_URL)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the Zaqar v2 HTTP API")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8888, admin 8889)")
    serve.add_argument("--workers", type=int, help="worker processes (default 2)")
    serve.add_argument("--threads", type=int, help="threads per worker (default 2)")
    serve.add_argument("--admin", action="store_true", help="serve the admin API too")
    serve.add_argument("--database-url", dest="serve_database_url", help=argparse.SUPPRESS)

    db = sub.add_parser("db", help="manage the database schema (Alembic)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to the current schema").add_argument(
        "revision", nargs="?", default="head"
    )
    db_sub.add_parser("downgrade", help="migrate down to a revision").add_argument("revision")
    db_sub.add_parser("current", help="print the database's revision")
    db_sub.add_parser("check", help="fail if the database is not at the current schema")
    for name in ("upgrade", "downgrade", "current", "check"):
        db_sub.choices[name].add_argument(
            "--database-url", dest="db_database_url", help=argparse.SUPPRESS
        )

    _pool_parser(sub)
    sub.add_parser("gc", help="delete expired messages, claims and subscriptions once (all pools)")
    return parser


def _pool_parser(sub: Any) -> None:
    pool = sub.add_parser("pool", help="manage pools: the databases queues are spread over")
    pool_sub = pool.add_subparsers(dest="pool_command", required=True)
    add = pool_sub.add_parser(
        "add", help="register a database as a pool (an empty one is migrated)"
    )
    add.add_argument("name", help="the pool's name")
    add.add_argument("uri", help="its SQLAlchemy URL (postgresql://, mysql+pymysql://, sqlite:///)")
    add.add_argument("--weight", type=int, default=DEFAULT_WEIGHT, help="placement weight (100)")
    add.add_argument("--flavor", help="the flavor the pool belongs to")
    add.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="e.g. fifo=false"
    )
    pool_sub.add_parser("list", help="list the registered pools")
    pool_sub.add_parser("remove", help="unregister a pool holding no queue").add_argument("name")
    for name in ("add", "list", "remove"):
        pool_sub.choices[name].add_argument(
            "--database-url", dest="pool_database_url", help=argparse.SUPPRESS
        )


def _settings(args: argparse.Namespace) -> Settings:
    url = (
        getattr(args, "serve_database_url", None)
        or getattr(args, "db_database_url", None)
        or getattr(args, "pool_database_url", None)
        or args.database_url
    )
    settings = Settings.load(
        config_file=args.config,
        database_url=url,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
        threads=getattr(args, "threads", None),
        admin_mode=True if getattr(args, "admin", False) else None,
    )
    if args.command == "serve" and settings.admin_mode and args.port is None:
        settings = dataclasses.replace(settings, port=settings.admin_port)
    return settings


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from sqlqueue.storage.sql import migrate
    from sqlqueue.storage.sql.engine import make_engine

    engine = make_engine(settings.database_url)
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(engine, args.revision)
            print(f"{engine.url!r} is at {migrate.current_revision(engine)}")
            return _upgrade_pools(settings, args.revision)
        elif args.db_command == "downgrade":
            migrate.downgrade(engine, args.revision)
            print(f"{engine.url!r} is at {migrate.current_revision(engine)}")
        elif args.db_command == "current":
            print(migrate.current_revision(engine) or "(empty database)")
        else:
            current, head = migrate.current_revision(engine), migrate.head_revision()
            if current != head:
                print(f"database at {current}, code expects {head}: run `sqlqueue db upgrade`")
                return 1
            migrate.check(engine)
            print(f"database is at {head}, matching the code")
    finally:
        engine.dispose()
    return 0


def _upgrade_pools(settings: Settings, revision: str) -> int:
    """Migrate every registered pool as well; 1 if one of them failed."""
    from sqlqueue import bootstrap

    storage = bootstrap.create_storage(settings, prepare=False)
    failed = 0
    try:
        for pool in storage.admin.pools.all():
            where = bootstrap.describe(pool.uri)
            try:
                print(
                    f"pool {pool.name} ({where}) is at {storage.admin.upgrade_pool(pool, revision)}"
                )
            except SqlqueueError as ex:
                print(f"pool {pool.name} ({where}) FAILED: {ex}", file=sys.stderr)
                failed = 1
    finally:
        storage.close()
    return failed


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value that parses as JSON (``false``, ``3``) is that value."""
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValidationFailed(f"Pool options are KEY=VALUE, not {pair!r}")
        try:
            found[key] = json.loads(text)
        except ValueError:
            found[key] = text
    return found


def _pool(args: argparse.Namespace, settings: Settings) -> int:
    from sqlqueue import bootstrap

    bootstrap.prepare_database(settings)
    storage = bootstrap.create_storage(settings)
    pools = storage.admin.pools
    try:
        if args.pool_command == "add":
            options = _options(args.option)
            pools.put(
                args.name, uri=args.uri, weight=args.weight, flavor=args.flavor, options=options
            )
            print(f"pool {args.name} added: {bootstrap.describe(args.uri)}, weight {args.weight}")
        elif args.pool_command == "remove":
            pools.get(args.name)
            pools.delete(args.name)
            print(f"pool {args.name} removed")
        else:
            _print_pools(pools.all(), bootstrap.describe(settings.database_url))
    finally:
        storage.close()
    return 0


def _print_pools(found: Sequence[Any], catalogue: str) -> None:
    from sqlqueue import bootstrap

    if not found:
        print(f"no pools: every queue lives in the catalogue {catalogue}")
        return
    print(f"{'NAME':<16} {'WEIGHT':>10} {'FLAVOR':<12} {'OPTIONS':<16} WHERE")
    for pool in found:
        options = json.dumps(pool.options) if pool.options else "-"
        flavor = pool.flavor or "-"
        where = bootstrap.describe(pool.uri)
        print(f"{pool.name:<16} {pool.weight:>10} {flavor:<12} {options:<16} {where}")


def _gc(settings: Settings) -> int:
    """Collect expired rows in the catalogue database and every pool that answers."""
    from sqlqueue import bootstrap

    storage = bootstrap.create_storage(settings, prepare=False)
    try:
        print(f"removed {storage.store.gc()} expired rows")
    finally:
        storage.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sqlqueue`` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "db":
            return _db(args, settings)
        if args.command == "gc":
            return _gc(settings)
        if args.command == "pool":
            return _pool(args, settings)
        from sqlqueue.server import serve

        return serve(settings)
    except SqlqueueError as ex:
        print(f"sqlqueue: {ex}", file=sys.stderr)
        return 2
