"""``sqlqueue serve --websocket``: the websocket API in a process of its own.

``serve --websocket`` starts it beside the HTTP server (``start``: a child
process, ``python -P -m sqlqueue.wsserve`` (``-P``: a ``sqlqueue`` folder in
the current directory does not shadow the installed package), handed the
settings and stopped with its parent; it also stops by itself if the parent
dies, and a child that exits by itself stops the parent (``watch``));
``serve --websocket-only`` runs it in the foreground (``run``), with the
garbage collector the HTTP workers would otherwise run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from sqlqueue import bootstrap
from sqlqueue.config import Settings
from sqlqueue.errors import ValidationFailed
from sqlqueue.transport import websocket

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"
STOP_TIMEOUT = 15.0
HANDLER_WAIT = 10.0
"""Seconds ``watch`` waits for the parent's SIGTERM handler (the server's stop) at most."""
SETTINGS_ENV = "SQLQUEUE_WEBSOCKET_CHILD_SETTINGS"
"""How the parent hands the settings to the child (not a configuration option)."""


@dataclasses.dataclass
class Child:
    """The websocket server's process, and who started it."""

    process: subprocess.Popen[bytes]
    owner: int
    stopping: bool = False
    """``stop`` began: the child's exit is expected."""
    failed: int | None = None
    """The exit status of a child that exited by itself (``watch``)."""


def address(settings: Settings) -> str:
    """The URL clients connect to."""
    return f"ws://{settings.websocket_host or settings.host}:{settings.websocket_port}"


def check_port(settings: Settings) -> None:
    """Refuse to start when the websocket address cannot be bound.

    :raises ValidationFailed: in use or not available (one line for the CLI).
    """
    host = settings.websocket_host or settings.host
    try:
        with socket.create_server((host, settings.websocket_port)):
            pass
    except OSError as ex:
        raise ValidationFailed(
            f"cannot listen on {address(settings)} ({os.strerror(ex.errno) if ex.errno else ex}): "
            "choose another --websocket-port or --websocket-host"
        ) from ex


def run(settings: Settings, *, parent_pid: int | None = None, gc: bool = False) -> int:
    """Serve the websocket API until SIGTERM/SIGINT (or the parent dies); the exit status."""
    from sqlqueue.server import start_gc

    if parent_pid is None:
        check_port(settings)
    storage = bootstrap.create_storage(settings)
    try:
        if gc:
            start_gc(storage.store, settings.gc_interval)
        websocket.run(storage.store, settings, parent_pid=parent_pid)
    finally:
        storage.close()
    return 0


def start(settings: Settings) -> Child:
    """Start the websocket server beside this process (the database is already prepared).

    :raises ValidationFailed: the websocket address cannot be bound.
    """
    check_port(settings)
    print(f"sqlqueue: websocket API on {address(settings)}", flush=True)
    env = dict(os.environ)
    env[SETTINGS_ENV] = json.dumps(dataclasses.asdict(settings))
    command = [sys.executable, "-P", "-m", "sqlqueue.wsserve", str(os.getpid())]
    child = Child(subprocess.Popen(command, env=env), os.getpid())
    threading.Thread(target=watch, args=(child,), name="sqlqueue-ws-watch", daemon=True).start()
    return child


def watch(child: Child) -> None:
    """Wait for the child; one that fails before ``stop`` (a non-zero status:
    it crashed or was killed) stops this server too (SIGTERM to itself, once
    the server's handler is in place), saying so in one line on stderr. A
    child that exits with 0 was stopped by a signal meant for both (Ctrl-C
    reaches the whole process group)."""
    status = child.process.wait()
    if child.stopping or status == 0:
        return  # stopped by us, or by the same Ctrl-C or SIGTERM as this server (exit 0)
    child.failed = status
    print(
        f"sqlqueue: the websocket server exited by itself (status {status}): stopping",
        file=sys.stderr,
        flush=True,
    )
    deadline = time.monotonic() + HANDLER_WAIT
    while signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    os.kill(child.owner, signal.SIGTERM)


def stop(child: Child) -> None:
    """SIGTERM the child and wait for it (its sockets get a clean close).

    Does nothing in a process forked from the one that started it (a worker).
    """
    if os.getpid() != child.owner or child.process.poll() is not None:
        return
    child.stopping = True
    child.process.terminate()
    try:
        child.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.process.kill()
        child.process.wait()


def main(argv: list[str]) -> int:
    """The child: settings from the environment, parent pid from argv."""
    settings = Settings.from_mapping(json.loads(os.environ.pop(SETTINGS_ENV)))
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    return run(settings, parent_pid=int(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
