"""``sqlqueue serve``: the API under gunicorn, with a garbage collector per worker.

The master prepares the database (a SQLite or empty database is brought to
the current schema) and settles the signed-URL secret before forking, so
every worker shares it; each worker builds its own engine after the fork.
gunicorn stops gracefully on SIGTERM and quickly on SIGINT.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from typing import Any

from gunicorn.app.base import BaseApplication

from sqlqueue import bootstrap
from sqlqueue.config import Settings
from sqlqueue.notify.service import start_notifier
from sqlqueue.storage.base import QueueStore

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


class Server(BaseApplication):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn running the sqlqueue app with settings given in code."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        """Bind address, workers and logging from the settings."""
        settings = self._settings
        self.cfg.set("bind", f"{settings.host}:{settings.port}")
        self.cfg.set("workers", settings.workers)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", settings.threads)
        self.cfg.set("graceful_timeout", 10)
        self.cfg.set("loglevel", settings.log_level.lower())
        self.cfg.set("proc_name", "sqlqueue")
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        """Build this worker's storage, garbage collector and app (after the fork).

        Every worker, public or admin, routes queues to their pools through
        the catalogue database they share.
        """
        storage = bootstrap.create_storage(self._settings)
        start_gc(storage.store, self._settings.gc_interval)
        start_notifier(self._settings, bootstrap.create_storage(self._settings).store)  # own caches
        return bootstrap.create_app(self._settings, storage=storage)


def start_gc(
    store: QueueStore, interval: float, stop: threading.Event | None = None
) -> threading.Thread | None:
    """Run ``store.gc()`` every ``interval`` seconds in a daemon thread until ``stop``."""
    if interval <= 0:
        return None
    stopped = stop or threading.Event()

    def loop() -> None:
        if stopped.wait(random.uniform(0, interval)):  # spread the workers out
            return
        while True:
            try:
                store.gc()
            except Exception:  # never fatal: the next round may succeed
                logger.exception("garbage collection failed")
            if stopped.wait(interval):
                return

    thread = threading.Thread(target=loop, name="sqlqueue-gc", daemon=True)
    thread.start()
    return thread


def _with_secret(settings: Settings) -> Settings:
    if settings.signed_url_secret:
        return settings
    secret = bootstrap.signed_url_secret(settings)  # logs that it is random
    logger.info("all workers share the generated signed-URL secret")
    return dataclasses.replace(settings, signed_url_secret=secret)


def serve(settings: Settings) -> int:
    """Serve the API until stopped; the exit status."""
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    bootstrap.prepare_database(settings)
    print(f"sqlqueue: {bootstrap.describe(settings.database_url)}", flush=True)
    settings = _with_secret(settings)
    api = " (admin API)" if settings.admin_mode else ""
    print(f"sqlqueue: listening on http://{settings.host}:{settings.port}{api}", flush=True)
    try:
        Server(settings).run()
    except SystemExit as ex:
        return ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    return 0
