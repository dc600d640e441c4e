"""The Zaqar v2 HTTP API as a Falcon WSGI application."""

from __future__ import annotations

from sqlqueue.transport.wsgi.app import build_app

__all__ = ["build_app"]
