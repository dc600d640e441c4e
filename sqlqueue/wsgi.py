"""The WSGI entry point for any server: ``gunicorn sqlqueue.wsgi:app``.

The application is built from ``Settings.load()`` on the first request in
each process: logging as configured (sqlqueue/logs.py), the storage, a
garbage-collector thread every ``gc_interval`` seconds, and the Falcon app.
Importing this module reads no configuration and opens no database. How to
run it under gunicorn, granian or waitress: docs/serving.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlqueue import bootstrap, logs
from sqlqueue.config import Settings

StartResponse = Callable[..., Any]


class LazyApp:
    """A WSGI callable that builds the real application once, when first called."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
        result: Iterable[bytes] = self._app(environ, start_response)
        return result


def build() -> Any:
    """This process's app, with its logging and garbage collector."""
    from sqlqueue.server import start_gc

    settings = Settings.load()
    logs.configure(settings.log_level, settings.log_format)
    storage = bootstrap.create_storage(settings)
    start_gc(storage.store, settings.gc_interval)
    return bootstrap.create_app(settings, storage=storage)


app = LazyApp(build)
