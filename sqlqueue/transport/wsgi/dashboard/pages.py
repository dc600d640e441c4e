"""The dashboard's resources and their rendering (Jinja2, every value autoescaped).

Each page answers in full, or only its ``<main>`` part with ``?part=main``:
the page's script fetches that part every ``dashboard_refresh`` seconds and
swaps it in, so the server is the only renderer and escapes everything.
"""

from __future__ import annotations

import json
from functools import cached_property
from importlib import resources
from typing import Any

import falcon
import jinja2

from sqlqueue.control.base import ControlPlaneService
from sqlqueue.transport.wsgi.context import Deps, Request
from sqlqueue.transport.wsgi.v2.base import AdminResource

PAGE_SIZE = 20
"""Messages and subscriptions shown on a queue's page."""
HTML = "text/html; charset=utf-8"
SECURITY_HEADERS = {
    # Defence in depth beside escaping: no inline script, nothing from elsewhere.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css"}
SHORT_JSON = 160
"""Characters of a JSON value shown in a table cell before it is cut."""


def compact_json(value: Any, limit: int = SHORT_JSON) -> str:
    """``value`` as one line of JSON, cut to ``limit`` characters (… marks a cut)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty_json(value: Any) -> str:
    """``value`` as indented JSON."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)


class Renderer:
    """The Jinja2 templates of the dashboard, with autoescaping always on."""

    def __init__(self, refresh: float) -> None:
        self._refresh = refresh

    @cached_property
    def _env(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("sqlqueue.transport.wsgi.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        env.filters["compact_json"] = compact_json
        env.filters["pretty_json"] = pretty_json
        return env

    def page(self, req: Request, resp: falcon.Response, template: str, **values: Any) -> None:
        """Answer the page, or its ``<main>`` part alone when ``?part=main``."""
        part = req.get_param("part") == "main"
        name = f"{template}.html" if part else "page.html"
        values.update(template=f"{template}.html", refresh=self._refresh)
        resp.content_type = HTML
        resp.set_headers(SECURITY_HEADERS)
        resp.text = self._env.get_template(name).render(**values)


class Overview(AdminResource):
    """``/dashboard``: projects, queues, databases and flavors."""

    def __init__(self, deps: Deps, admin: ControlPlaneService, renderer: Renderer) -> None:
        super().__init__(deps, admin)
        self._render = renderer

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """The front page (``?part=main``: its refreshed part)."""
        self._authorize(req)
        snapshot = self._admin.overview(self._deps.settings.dashboard_queues)
        self._render.page(req, resp, "overview", title="sqlqueue", overview=snapshot)


class QueueDetail(AdminResource):
    """``/dashboard/queues/{queue_name}?project=P``: one queue's stats, messages, subscriptions."""

    def __init__(self, deps: Deps, admin: ControlPlaneService, renderer: Renderer) -> None:
        super().__init__(deps, admin)
        self._render = renderer

    def on_get(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """The queue's page (``?part=main``: its refreshed part); 404 if it does not exist."""
        self._authorize(req)
        project = req.get_param("project", required=True)
        driver = self._store.at(project, queue_name)
        if not driver.queues.exists(project, queue_name):
            raise falcon.HTTPNotFound(
                title="Not found", description=f"Queue {queue_name} does not exist."
            )
        self._render.page(
            req,
            resp,
            "queue",
            title=f"{queue_name} · sqlqueue",
            project=project,
            queue=queue_name,
            metadata=driver.queues.get_metadata(project, queue_name),
            stats=driver.queues.stats(project, queue_name),
            messages=driver.messages.list(
                project,
                queue_name,
                limit=PAGE_SIZE,
                echo=True,
                include_claimed=True,
                include_delayed=True,
            ).items,
            subscriptions=driver.subscriptions.list(project, queue_name, limit=PAGE_SIZE).items,
        )


class Static:
    """``/dashboard/static/{name}``: the page's script and style sheet, from the package."""

    def on_get(self, req: Request, resp: falcon.Response, name: str) -> None:
        """One of ``ASSETS`` (404 for anything else)."""
        if name not in ASSETS:
            raise falcon.HTTPNotFound(title="Not found", description=f"No asset {name}.")
        folder = resources.files("sqlqueue.transport.wsgi.dashboard") / "static"
        resp.content_type = ASSETS[name]
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.text = (folder / name).read_text(encoding="utf-8")
