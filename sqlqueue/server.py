"""``sqlqueue serve``: the API under granian, with a garbage collector per worker.

granian (a Rust HTTP server) reads request heads outside Python, and the
RSGI front (sqlqueue/rsgi.py) reads bodies on the worker's event loop: a
worker's Python threads only ever run complete requests, so slow or idle
clients cost a connection slot, never a thread (docs/serving.md).

The master prepares the database (a SQLite or empty database is brought to
the current schema) and settles the signed-URL secret before the workers
start, so every worker shares it; each worker builds its own engine.

Stopping (SIGTERM or SIGINT): workers stop accepting connections, finish
the requests they received, answer any further request on a kept-alive
connection with ``Connection: close``, and exit once no request has been in
their hands for ``QUIET_SECONDS``; a worker still busy after
``GRACE_SECONDS`` is killed.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.mp import MPServer

from sqlqueue import bootstrap, logs
from sqlqueue.config import Settings
from sqlqueue.errors import ValidationFailed
from sqlqueue.notify.service import start_notifier
from sqlqueue.observe import multiprocess
from sqlqueue.observe.exposition import Exposition
from sqlqueue.observe.gauges import StoreGauges
from sqlqueue.rsgi import WsgiFront
from sqlqueue.storage.base import QueueStore

logger = logging.getLogger(__name__)

GRACE_SECONDS = 25
"""A stopping worker still alive after this is killed (exit within 30 s)."""
QUIET_SECONDS = 0.5
"""A stopping worker exits once no request has been in its hands this long."""
MAX_TIMEOUT = 60.0
"""granian's limit on its header-read timer."""


class Flag(Protocol):
    """A boolean (0 or 1) shared between the master and its workers."""

    value: int


def start_gc(
    store: QueueStore, interval: float, stop: threading.Event | None = None
) -> threading.Thread | None:
    """Run ``store.gc()`` then ``store.maintain()`` every ``interval`` seconds in a
    daemon thread until ``stop`` (maintenance keeps its own, longer interval)."""
    if interval <= 0:
        return None
    stopped = stop or threading.Event()

    def loop() -> None:
        if stopped.wait(random.uniform(0, interval)):  # spread the workers out
            return
        while True:
            try:
                store.gc()
                store.maintain()
            except Exception:  # never fatal: the next round may succeed
                logger.exception("garbage collection failed")
            if stopped.wait(interval):
                return

    thread = threading.Thread(target=loop, name="sqlqueue-gc", daemon=True)
    thread.start()
    return thread


class Stopper:
    """Ends a worker process once it is stopping and has had no request for a while.

    When ``stopping`` is set (by the master, on SIGTERM or SIGINT), the
    front answers every further request with ``Connection: close``, and
    the process exits as soon as no request has been in its hands for
    ``quiet`` seconds (granian alone would wait for every idle keep-alive
    connection to time out). ``on_stop`` runs when the stop begins.
    """

    def __init__(
        self,
        front: WsgiFront,
        stopping: Flag,
        on_stop: Callable[[], None] = lambda: None,
        quiet: float = QUIET_SECONDS,
    ) -> None:
        self._front = front
        self._stopping = stopping
        self._on_stop = on_stop
        self._quiet = quiet

    def drained(self, since: float) -> bool:
        """Whether no request was in hand for ``quiet`` s, counting from ``since`` at least."""
        front = self._front
        with front.lock:
            idle = time.monotonic() - max(front.last_answer, since)
            return front.busy == 0 and idle >= self._quiet

    def run(self, poll: float = 0.05) -> None:
        """Wait for the stop, then for quiet, then end the process (in a daemon thread)."""
        while not self._stopping.value:
            time.sleep(poll * 2)
        self._front.closing = True
        self._on_stop()
        since = time.monotonic()
        while not self.drained(since):
            time.sleep(poll)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(0)


def worker_app(settings: Settings, stopping: Flag) -> WsgiFront:
    """Build one worker's storage, garbage collector and app (in the worker process).

    Every worker, public or admin, routes queues to their pools through
    the catalogue database they share.
    """
    multiprocess.forget_dead_processes()  # a worker replacing a dead one
    logs.lean_records()  # granian configures the workers' logging itself
    storage = bootstrap.create_storage(settings)
    start_gc(storage.store, settings.gc_interval)
    start_notifier(settings, bootstrap.create_storage(settings).store)  # own caches
    front = WsgiFront(
        bootstrap.create_app(settings, storage=storage),
        threads=settings.threads,
        long_polls=settings.long_polls,
        max_body=settings.max_body_size,
        body_timeout=settings.body_timeout,
    )
    # long-poll waiters answer at once instead of holding the stop up
    stopper = Stopper(front, stopping, on_stop=storage.store.release_waiters)
    threading.Thread(target=stopper.run, name="sqlqueue-stopper", daemon=True).start()
    return front


class Granian(MPServer):
    """granian's process manager, telling the workers when a stop begins."""

    def __init__(self, stopping: Flag, **options: Any) -> None:
        self._stopping = stopping
        super().__init__(**options)

    def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
        """SIGTERM/SIGINT: workers start draining, then granian stops them."""
        self._stopping.value = 1
        super().signal_handler_interrupt(*args, **kwargs)  # type: ignore[no-untyped-call]


def header_timer(settings: Settings) -> float:
    """Seconds of granian's one timer for a request head and for an idle connection.

    :raises ValidationFailed: a timeout outside (0, 60] seconds.
    """
    for name in ("header_timeout", "keepalive_timeout"):
        value = getattr(settings, name)
        if not 0 < value <= MAX_TIMEOUT:
            raise ValidationFailed(f"{name} must be more than 0 and at most 60 seconds")
    return max(settings.header_timeout, settings.keepalive_timeout)


def check_body_limits(settings: Settings) -> None:
    """Refuse body settings the API could not work with.

    :raises ValidationFailed: a body timeout not above 0, or a body size
        under the largest body the API accepts.
    """
    if settings.body_timeout <= 0:
        raise ValidationFailed("body_timeout must be more than 0 seconds")
    largest = max(settings.limits.max_messages_post_size, settings.limits.max_queue_metadata)
    if settings.max_body_size < largest:
        raise ValidationFailed(
            f"max_body_size must be at least {largest} bytes (the largest API body limit)"
        )


def per_worker_connections(settings: Settings) -> int:
    """Each worker's share of ``max_connections`` (granian's backpressure).

    :raises ValidationFailed: fewer connections than workers.
    """
    if settings.workers < 1:
        raise ValidationFailed("workers must be at least 1")
    if settings.max_connections < settings.workers:
        raise ValidationFailed("max_connections must be at least the number of workers")
    return math.ceil(settings.max_connections / settings.workers)


def granian_server(settings: Settings, stopping: Flag) -> Granian:
    """The granian process manager for ``settings``."""
    timer_ms = round(header_timer(settings) * 1000)
    return Granian(
        stopping,
        target="sqlqueue",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.RSGI,
        workers=settings.workers,
        backpressure=per_worker_connections(settings),
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=timer_ms, keep_alive=True),
        websockets=False,
        log_enabled=True,
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=logs.dict_config(settings.log_level, settings.log_format),
        workers_kill_timeout=GRACE_SECONDS,
    )


def _with_secret(settings: Settings) -> Settings:
    if settings.signed_url_secret:
        return settings
    secret = bootstrap.signed_url_secret(settings)  # logs that it is random
    logger.info("all workers share the generated signed-URL secret")
    return dataclasses.replace(settings, signed_url_secret=secret)


def serve(settings: Settings) -> int:
    """Serve the API until stopped; the exit status.

    :raises ValidationFailed: a serving option out of range (the CLI checked the port).
    :raises StorageUnavailable: the database cannot be reached or is stale.
    """
    logs.configure(settings.log_level, settings.log_format)
    header_timer(settings)
    check_body_limits(settings)
    per_worker_connections(settings)
    bootstrap.check_auth(settings)
    bootstrap.prepare_database(settings)
    bootstrap.prepare_blob_store(settings)
    print(f"sqlqueue: {bootstrap.describe(settings.database_url)}", flush=True)
    settings = _with_secret(settings)
    if settings.websocket_only:
        from sqlqueue import wsserve

        print(f"sqlqueue: websocket API on {wsserve.address(settings)}", flush=True)
        return wsserve.run(settings, gc=True)
    stopping: Flag = multiprocessing.RawValue("b", 0)
    server = granian_server(settings, stopping)
    companion = _start_websocket(settings)
    api = " (admin API)" if settings.admin_mode else ""
    print(f"sqlqueue: listening on http://{settings.host}:{settings.port}{api}", flush=True)
    _start_metrics_port(settings)
    status = 0
    try:
        server.serve(
            target_loader=functools.partial(worker_app, settings, stopping), wrap_loader=False
        )
    except SystemExit as ex:
        status = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    finally:
        _stop_websocket(companion)
    if companion is not None and companion.failed is not None:
        return 1  # the websocket server exited by itself (sqlqueue/wsserve.py watch)
    return status


def _start_websocket(settings: Settings) -> Any:
    """The websocket server's process when ``settings.websocket`` (sqlqueue/wsserve.py)."""
    if not settings.websocket:
        return None
    from sqlqueue import wsserve

    return wsserve.start(settings)


def _stop_websocket(process: Any) -> None:
    if process is not None:
        from sqlqueue import wsserve

        wsserve.stop(process)


class _LazyGauges:
    """The storage gauges of the main process, whose storage opens on the first
    scrape (after the workers started: they never share its connections)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._gauges: StoreGauges | None = None
        self._lock = threading.Lock()

    def collect(self) -> Any:
        """The gauges now (``StoreGauges.collect``)."""
        with self._lock:
            if self._gauges is None:
                storage = bootstrap.create_storage(self._settings, prepare=False)
                self._gauges = StoreGauges(
                    storage.store,
                    storage.admin,
                    queues=self._settings.metrics_queues,
                    timeout=self._settings.metrics_scrape_timeout,
                )
        return self._gauges.collect()


def metrics_address(settings: Settings) -> tuple[str, int]:
    """(host, port) of the separate metrics port (``metrics_port``; 0: none)."""
    return settings.metrics_host or settings.host, settings.metrics_port


def _start_metrics_port(settings: Settings) -> None:
    """Serve every worker's metrics on ``metrics_port`` from this (main) process."""
    if not settings.metrics_port:
        return
    url = Exposition([_LazyGauges(settings)]).serve(*metrics_address(settings))
    print(f"sqlqueue: metrics on {url}", flush=True)
