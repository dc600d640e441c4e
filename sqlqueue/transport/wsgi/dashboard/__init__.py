"""The admin dashboard: server-rendered HTML pages over the control plane's snapshot.

Routes (admin app only, see ``routes``): ``/dashboard`` (projects, queues,
databases, flavors), ``/dashboard/queues/{queue_name}?project=P`` (one
queue: stats, metadata, a page of messages, subscriptions) and their
assets under ``/dashboard/static/``. docs/dashboard.md describes the page.
"""

from __future__ import annotations

from typing import Any

from sqlqueue.control.base import ControlPlaneService
from sqlqueue.transport.wsgi.context import Deps
from sqlqueue.transport.wsgi.dashboard import pages


def routes(deps: Deps, admin: ControlPlaneService) -> list[tuple[str, Any]]:
    """The dashboard's (URI template, resource) pairs."""
    renderer = pages.Renderer(deps.settings.dashboard_refresh)
    return [
        ("/dashboard", pages.Overview(deps, admin, renderer)),
        ("/dashboard/queues/{queue_name}", pages.QueueDetail(deps, admin, renderer)),
        ("/dashboard/static/{name}", pages.Static()),
    ]
