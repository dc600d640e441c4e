"""The ``sqlqueue`` command: serve the API and manage the schema.

sqlqueue serve [--host H] [--port P] [--workers N] [--database-url URL] [--admin]
sqlqueue db upgrade|downgrade REV|current|check [--database-url URL]
sqlqueue gc [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlqueue import __version__
from sqlqueue.config import Settings
from sqlqueue.errors import SqlqueueError


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

    sub.add_parser("gc", help="delete expired messages, claims and subscriptions once")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    url = (
        getattr(args, "serve_database_url", None)
        or getattr(args, "db_database_url", None)
        or args.database_url
    )
    return Settings.load(
        config_file=args.config,
        database_url=url,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
        admin_mode=True if getattr(args, "admin", False) else None,
    )


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from sqlqueue.storage.sql import migrate
    from sqlqueue.storage.sql.engine import make_engine

    engine = make_engine(settings.database_url)
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(engine, args.revision)
            print(f"{engine.url!r} is at {migrate.current_revision(engine)}")
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


def _gc(settings: Settings) -> int:
    from sqlqueue.storage.sql.driver import SqlDataDriver

    driver = SqlDataDriver.from_url(settings.database_url)
    try:
        print(f"removed {driver.gc()} expired rows")
    finally:
        driver.close()
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
        from sqlqueue.server import serve

        return serve(settings)
    except SqlqueueError as ex:
        print(f"sqlqueue: {ex}", file=sys.stderr)
        return 2
