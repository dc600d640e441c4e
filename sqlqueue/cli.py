"""sqlqueue: the Zaqar v2 queuing API served from a SQL database.

  sqlqueue serve [--host H] [--port P] [--workers N] [--database-url URL] [--admin]
                 [--websocket | --websocket-only] [--websocket-host H] [--websocket-port P]
  sqlqueue db upgrade|downgrade REV|current|check [--database-url URL]
  sqlqueue pool add NAME URL [--weight N] [--flavor F] [--option KEY=VALUE ...]
  sqlqueue pool list | remove NAME | drain NAME
  sqlqueue queue move PROJECT QUEUE --to POOL | queue move --resume
  sqlqueue gc [--database-url URL]
  sqlqueue notify [--database-url URL]

--database-url (or SQLQUEUE_DATABASE_URL) names the catalogue database: the one
every sqlqueue process is configured with, which also records the pools. It
goes before or after the command. Run `sqlqueue COMMAND --help` for more.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import signal
import socket
import sys
import tomllib
from collections.abc import Callable, Sequence
from typing import Any

from sqlqueue import __version__, logs
from sqlqueue.config import Settings
from sqlqueue.errors import SqlqueueError, ValidationFailed

DEFAULT_WEIGHT = 100
DEBUG_VARIABLE = "SQLQUEUE_DEBUG"
CRASH_VARIABLE = "SQLQUEUE_MOVE_CRASH_AT"
"""Testing aid: the step of a move (domain/moves.py STEPS) at which to SIGKILL ourselves."""
EXIT_REFUSED, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 1, 130


def _common() -> argparse.ArgumentParser:
    """The options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="TOML configuration file (or SQLQUEUE_CONFIG)"
    )
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="the catalogue database, e.g. sqlite:////var/lib/sqlqueue/q.db or "
        "postgresql://user@host/dbname (or SQLQUEUE_DATABASE_URL)",
    )
    return common


def _feedback() -> argparse.ArgumentParser:
    """The options of long work: how its progress shows (sqlqueue/progress.py)."""
    feedback = argparse.ArgumentParser(add_help=False)
    shown = feedback.add_mutually_exclusive_group()
    shown.add_argument(
        "--progress",
        action="store_true",
        help="progress lines on stderr even when it is not a terminal (a bar when it is)",
    )
    shown.add_argument(
        "--quiet", action="store_true", help="no progress, even on a terminal: only the summary"
    )
    return feedback


def _parser() -> argparse.ArgumentParser:
    common = _common()
    feedback = _feedback()
    parser = argparse.ArgumentParser(
        prog="sqlqueue",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"sqlqueue {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the Zaqar v2 HTTP API", parents=[common])
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8888, admin 8889)")
    serve.add_argument("--workers", type=int, help="worker processes (default 2)")
    serve.add_argument("--threads", type=int, help="threads per worker (default 2)")
    serve.add_argument("--admin", action="store_true", help="serve the admin API too")
    serve.add_argument(
        "--header-timeout", type=float, help="seconds to send a request head (default 20)"
    )
    serve.add_argument(
        "--keepalive-timeout", type=float, help="seconds an idle connection stays open (default 20)"
    )
    serve.add_argument(
        "--body-timeout", type=float, help="seconds to send a request body (default 30)"
    )
    serve.add_argument(
        "--max-connections", type=int, help="open connections, all workers (default 1024)"
    )
    serve.add_argument("--log-format", choices=["text", "json"], help="log lines (default text)")
    serve.add_argument(
        "--websocket", action="store_true", help="serve Zaqar's websocket API too (port 9000)"
    )
    serve.add_argument(
        "--websocket-only", action="store_true", help="serve only the websocket API (no HTTP)"
    )
    serve.add_argument("--websocket-host", help="websocket address (default: --host)")
    serve.add_argument("--websocket-port", type=int, help="websocket port (default 9000)")

    db = sub.add_parser("db", help="manage the database schema (Alembic)", parents=[common])
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_sub.add_parser(
        "upgrade",
        help="migrate the catalogue and every pool to the current schema",
        parents=[common, feedback],
    ).add_argument("revision", nargs="?", default="head")
    db_sub.add_parser(
        "downgrade", help="migrate down to a revision", parents=[common]
    ).add_argument("revision")
    db_sub.add_parser("current", help="print the database's revision", parents=[common])
    db_sub.add_parser(
        "check", help="fail if the database is not at the current schema", parents=[common]
    )

    _pool_parser(sub, common)
    _queue_parser(sub, common)
    sub.add_parser(
        "gc",
        help="delete expired messages, claims and subscriptions once, then maintain the"
        " tables (all pools)",
        parents=[common, feedback],
    )
    sub.add_parser(
        "notify", help="deliver notifications (all pools) until stopped", parents=[common]
    )
    return parser


def _pool_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    pool = sub.add_parser(
        "pool", help="manage pools: the databases queues are spread over", parents=[common]
    )
    pool_sub = pool.add_subparsers(dest="pool_command", required=True, metavar="COMMAND")
    add = pool_sub.add_parser(
        "add",
        help="register a database as a pool (an empty one is migrated); again with the"
        " same URL: change its weight, flavor or options",
        parents=[common],
    )
    add.add_argument("name", help="the pool's name")
    add.add_argument("uri", help="its SQLAlchemy URL (postgresql://, mysql+pymysql://, sqlite:///)")
    add.add_argument("--weight", type=int, default=DEFAULT_WEIGHT, help="placement weight (100)")
    add.add_argument("--flavor", help="the flavor the pool belongs to")
    add.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. fifo=false, persist=false",
    )
    pool_sub.add_parser("list", help="list the registered pools", parents=[common])
    pool_sub.add_parser(
        "remove", help="unregister a pool holding no queue", parents=[common]
    ).add_argument("name")
    pool_sub.add_parser(
        "drain",
        help="move every queue off a pool (its weight set to 0), with progress",
        parents=[common],
    ).add_argument("name")


def _queue_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    queue = sub.add_parser("queue", help="operate on one queue", parents=[common])
    queue_sub = queue.add_subparsers(dest="queue_command", required=True, metavar="COMMAND")
    move = queue_sub.add_parser(
        "move",
        help="move a live queue, with its messages and claims, to another pool",
        parents=[common],
    )
    move.add_argument("project", nargs="?", help="the queue's project (X-Project-Id)")
    move.add_argument("queue", nargs="?", help="the queue's name")
    move.add_argument("--to", metavar="POOL", help="the pool to move it to")
    move.add_argument(
        "--resume", action="store_true", help="only complete or roll back interrupted moves"
    )


def _settings(args: argparse.Namespace) -> Settings:
    """The settings from the configuration file, the environment and the flags.

    :raises ValidationFailed: the file cannot be read or parsed, or an option is wrong.
    """
    config = getattr(args, "config", None)  # absent unless given (see _common)
    path = config or os.environ.get("SQLQUEUE_CONFIG")
    try:
        settings = Settings.load(
            config_file=config,
            database_url=getattr(args, "database_url", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            workers=getattr(args, "workers", None),
            threads=getattr(args, "threads", None),
            admin_mode=True if getattr(args, "admin", False) else None,
            header_timeout=getattr(args, "header_timeout", None),
            keepalive_timeout=getattr(args, "keepalive_timeout", None),
            body_timeout=getattr(args, "body_timeout", None),
            max_connections=getattr(args, "max_connections", None),
            log_format=getattr(args, "log_format", None),
            websocket=True if getattr(args, "websocket", False) else None,
            websocket_only=True if getattr(args, "websocket_only", False) else None,
            websocket_host=getattr(args, "websocket_host", None),
            websocket_port=getattr(args, "websocket_port", None),
        )
    except OSError as ex:
        raise ValidationFailed(
            f"cannot read the configuration file {path} ({ex.strerror or ex}): "
            "correct --config or SQLQUEUE_CONFIG"
        ) from ex
    except tomllib.TOMLDecodeError as ex:
        raise ValidationFailed(f"the configuration file {path} is not valid TOML: {ex}") from ex
    if args.command == "serve" and settings.admin_mode and args.port is None:
        settings = dataclasses.replace(settings, port=settings.admin_port)
    return settings


def _mode(args: argparse.Namespace) -> str:
    """How long work shows its progress (``--progress``, ``--quiet``, a terminal or not)."""
    from sqlqueue import progress

    return progress.choose_mode(
        sys.stderr,
        quiet=getattr(args, "quiet", False),
        lines=getattr(args, "progress", False),
    )


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from sqlqueue import bootstrap

    url = settings.database_url
    if args.db_command == "upgrade":
        from sqlqueue import bulk

        return bulk.upgrade(settings, args.revision, _mode(args))
    if args.db_command == "downgrade":
        revision = bootstrap.migrate_database(settings, args.revision, down=True)
        print(f"{bootstrap.describe(url)} is at {revision or '(empty database)'}")
        return 0
    state = bootstrap.inspect_database(settings)
    if args.db_command == "current":
        print(state.current or ("(empty database)" if state.empty else "(no sqlqueue schema)"))
        return 0
    if not state.at_head:
        _fail(str(state.refusal()))
        return 1
    differences = bootstrap.schema_differences(settings)
    if differences:
        _fail(f"the {bootstrap.describe(url)} is at {state.head} but differs: {differences}")
        return 1
    print(f"database is at {state.head}, matching the code")
    return 0


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


def _prepare(settings: Settings, *, create: bool) -> None:
    """The schema gate on the catalogue database; says so when it migrated it."""
    from sqlqueue import bootstrap

    state = bootstrap.prepare_database(settings, create=create)
    if state.upgraded_from:
        where = bootstrap.describe(settings.database_url)
        print(f"sqlqueue: upgraded the {where} from {state.upgraded_from} to {state.head}")


def _pool(args: argparse.Namespace, settings: Settings) -> int:
    from sqlqueue import bootstrap

    _prepare(settings, create=args.pool_command == "add")
    storage = bootstrap.create_storage(settings)
    pools = storage.admin.pools
    try:
        if args.pool_command == "add":
            options = _options(args.option)
            new = pools.add(
                args.name, uri=args.uri, weight=args.weight, flavor=args.flavor, options=options
            )
            done = "added" if new else "updated"
            print(f"pool {args.name} {done}: {bootstrap.describe(args.uri)}, weight {args.weight}")
        elif args.pool_command == "drain":
            _drain(storage, args.name)
        elif args.pool_command == "remove":
            pools.get(args.name)
            pools.delete(args.name)
            print(f"pool {args.name} removed")
        else:
            _print_pools(pools.all(), bootstrap.describe(settings.database_url))
    finally:
        storage.close()
    return 0


def _crash_hook() -> Callable[[str], None] | None:
    """The step hook asked for by SQLQUEUE_MOVE_CRASH_AT (kill tests), if any."""
    stop_at = os.environ.get(CRASH_VARIABLE)
    if not stop_at:
        return None

    def hook(step: str) -> None:
        if step == stop_at:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _print_move(result: Any) -> None:
    where = f"{result.project}/{result.queue}: {result.source} -> {result.target}"
    if result.outcome == "moved":
        print(f"moved {where}, {result.messages} messages, writes paused {result.pause_ms:.0f} ms")
    else:
        print(f"interrupted move {where} {result.outcome}")


def _queue(args: argparse.Namespace, settings: Settings) -> int:
    from sqlqueue import bootstrap

    if not args.resume and not (args.project and args.queue and args.to):
        raise ValidationFailed("give PROJECT QUEUE --to POOL, or --resume")
    _prepare(settings, create=False)
    storage = bootstrap.create_storage(settings, move_hook=_crash_hook())
    moves = storage.admin.moves
    try:
        resolved = moves.resume()
        for result in resolved:
            _print_move(result)
        if args.resume and not resolved:
            print("no interrupted move to resume")
        if not args.resume:
            _print_move(moves.move(args.project, args.queue, args.to))
    finally:
        storage.close()
    return 0


def _drain(storage: Any, name: str) -> None:
    def progress(result: Any, done: int, total: int) -> None:
        print(f"[{done}/{total}] ", end="")
        _print_move(result)
        sys.stdout.flush()

    moved = storage.admin.moves.drain(name, progress)
    print(f"pool {name} drained: {len(moved)} queues moved; `sqlqueue pool remove {name}` now")


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


def _gc(settings: Settings, mode: str) -> int:
    """The schema gate, then gc over every database with progress (sqlqueue/bulk.py)."""
    from sqlqueue import bulk

    _prepare(settings, create=False)
    return bulk.gc(settings, mode)


PORT_FLAGS = ("--host", "--port")
METRICS_FLAGS = ("metrics_host", "metrics_port")
"""The settings that choose the metrics port's address (no flag: file or SQLQUEUE_*)."""


def check_port(host: str, port: int, names: tuple[str, str] = PORT_FLAGS) -> None:
    """Refuse an address ``sqlqueue serve`` could not listen on, before anything starts.

    A bind probe with SO_REUSEADDR, as servers bind: a port in TIME_WAIT
    passes, one another program listens on does not. ``names`` are the host
    and port options the advice names.

    :raises ValidationFailed: the port is taken, privileged, out of range, or
        the host is not an address of this machine.
    """
    if not 0 < port < 65536:
        raise ValidationFailed(
            f"port {port} is not between 1 and 65535: choose one with {names[1]}"
        )
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as ex:
        raise ValidationFailed(
            f"cannot listen on {host!r} ({ex.strerror}): give an address of this machine "
            f"with {names[0]} (127.0.0.1, or 0.0.0.0 for every interface)"
        ) from ex
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as ex:
            raise ValidationFailed(_bind_refusal(host, port, ex, names)) from ex


def _bind_refusal(host: str, port: int, ex: OSError, names: tuple[str, str]) -> str:
    host_option, port_option = names
    if ex.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use by another program: "
            f"stop it, or choose another port with {port_option}"
        )
    if ex.errno == errno.EACCES:
        return (
            f"no permission to listen on port {port} on {host}: "
            f"choose a port above 1023 with {port_option}"
        )
    if ex.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this machine: choose one with {host_option} "
            "(127.0.0.1, or 0.0.0.0 for every interface)"
        )
    return (
        f"cannot listen on {host}:{port} ({ex.strerror or ex}): "
        f"check {host_option} and {port_option}"
    )


METRICS_ENDPOINTS = ("admin", "public", "off")


def check_metrics(settings: Settings) -> None:
    """Refuse metrics settings ``sqlqueue serve`` could not work with.

    :raises ValidationFailed: an unknown ``metrics_endpoint``, a negative
        ``metrics_queues``, a scrape timeout not above 0, or a
        ``metrics_port`` that cannot be listened on.
    """
    if settings.metrics_endpoint not in METRICS_ENDPOINTS:
        raise ValidationFailed(
            f"metrics_endpoint must be one of {', '.join(METRICS_ENDPOINTS)}, "
            f"not {settings.metrics_endpoint!r}"
        )
    if settings.metrics_queues < 0:
        raise ValidationFailed("metrics_queues must be 0 or more")
    if settings.metrics_scrape_timeout <= 0:
        raise ValidationFailed("metrics_scrape_timeout must be more than 0 seconds")
    if settings.metrics_port:
        check_port(settings.metrics_host or settings.host, settings.metrics_port, METRICS_FLAGS)


WEBSOCKET_FLAGS = ("websocket_port", "websocket_host")
COUNTS = ("workers", "threads", "long_polls", "websocket_threads", "websocket_max_connections")
"""Serving settings that size thread pools or slots: 0 or less cannot serve."""


def check_websocket_flags(args: argparse.Namespace) -> None:
    """Refuse websocket flags that would be ignored or contradict each other.

    :raises ValidationFailed: ``--websocket`` with ``--websocket-only``, or
        ``--websocket-port``/``--websocket-host`` without either.
    """
    if args.websocket and args.websocket_only:
        raise ValidationFailed(
            "--websocket and --websocket-only exclude each other: give --websocket for "
            "HTTP and websocket, --websocket-only for the websocket API alone"
        )
    if args.websocket or args.websocket_only:
        return
    for name in WEBSOCKET_FLAGS:
        if getattr(args, name) is not None:
            flag = "--" + name.replace("_", "-")
            raise ValidationFailed(
                f"{flag} needs --websocket or --websocket-only: add one of them, or drop {flag}"
            )


def check_counts(settings: Settings) -> None:
    """Refuse thread and connection counts ``sqlqueue serve`` could not serve with.

    :raises ValidationFailed: ``workers``, ``threads``, ``long_polls``, ``websocket_threads``
        or ``websocket_max_connections`` below 1.
    """
    for name in COUNTS:
        if getattr(settings, name) < 1:
            raise ValidationFailed(f"{name} must be at least 1")


def check_listeners(settings: Settings) -> None:
    """Refuse addresses ``sqlqueue serve`` could not listen on: the HTTP one
    unless ``websocket_only``, the websocket port's range when it serves one
    (sqlqueue/wsserve.py tries binding it).

    :raises ValidationFailed: as ``check_port``; a websocket port outside 1-65535.
    """
    if not settings.websocket_only:
        check_port(settings.host, settings.port)
    port = settings.websocket_port
    if (settings.websocket or settings.websocket_only) and not 0 < port < 65536:
        raise ValidationFailed(
            f"port {port} is not between 1 and 65535: choose one with --websocket-port"
        )


def _serve(settings: Settings) -> int:
    """Check the address, the authentication set-up and the database, then serve
    (nothing has started if any fails).

    The workers' metrics directory is set up first: before anything defines a
    metric (sqlqueue/observe/multiprocess.py).
    """
    check_counts(settings)
    check_listeners(settings)
    check_metrics(settings)
    from sqlqueue.observe import multiprocess

    try:
        path, temporary = multiprocess.prepare(settings.metrics_dir)
    except OSError as ex:
        raise ValidationFailed(
            f"cannot use the metrics directory {settings.metrics_dir} "
            f"({ex.strerror or ex}): correct metrics_dir"
        ) from ex
    try:
        from sqlqueue import bootstrap

        bootstrap.check_cli_urls(settings)
        bootstrap.check_auth(settings)
        _prepare(settings, create=True)
        from sqlqueue.server import serve

        return serve(settings)
    finally:
        multiprocess.cleanup(path, temporary)


def _notify(settings: Settings) -> int:
    """Deliver notifications from the catalogue database and every pool until SIGTERM/SIGINT."""
    import signal
    import threading

    from sqlqueue import bootstrap
    from sqlqueue.notify.service import run_until, worker_config

    worker_config(settings)  # a bad notify_* setting stops here, before anything starts
    check_metrics(settings)
    _prepare(settings, create=False)
    storage = bootstrap.create_storage(settings, prepare=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(
        f"sqlqueue: delivering notifications from the {bootstrap.describe(settings.database_url)}",
        flush=True,
    )
    if settings.metrics_port:  # this process's own delivery metrics
        from sqlqueue.observe.exposition import Exposition

        host = settings.metrics_host or settings.host
        print(f"sqlqueue: metrics on {Exposition().serve(host, settings.metrics_port)}", flush=True)
    try:
        run_until(settings, storage.store, stop)
    finally:
        storage.close()
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        check_websocket_flags(args)
    settings = _settings(args)
    if args.command != "serve":  # serve: after the metrics directory (_serve)
        from sqlqueue import bootstrap

        bootstrap.check_cli_urls(settings)
    terminal = args.command != "serve"
    logs.configure(settings.log_level, settings.log_format, terminal=terminal)
    if args.command == "db":
        return _db(args, settings)
    if args.command == "gc":
        return _gc(settings, _mode(args))
    if args.command == "notify":
        return _notify(settings)
    if args.command == "pool":
        return _pool(args, settings)
    if args.command == "queue":
        return _queue(args, settings)
    return _serve(settings)


def _fail(message: str) -> None:
    """Print ``message`` as the one line ``sqlqueue: ...`` on stderr."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"sqlqueue: {line}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sqlqueue`` console script; the exit status.

    A refusal (a sqlqueue error) is one line on stderr and status 2; anything
    unexpected is one line and status 1, with the traceback only when
    SQLQUEUE_DEBUG is set.
    """
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except SqlqueueError as ex:
        _fail(str(ex))
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as ex:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        _fail(
            f"internal error: {type(ex).__name__}: {ex} "
            f"(run with {DEBUG_VARIABLE}=1 for the traceback)"
        )
        return EXIT_INTERNAL
