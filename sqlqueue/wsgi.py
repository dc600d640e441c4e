"""The WSGI entry point for any server: ``gunicorn sqlqueue.wsgi:app``.

The application is built from ``Settings.load()`` on the first request, so
importing this module reads no configuration and opens no database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlqueue import bootstrap
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


app = LazyApp(lambda: bootstrap.create_app(Settings.load()))
