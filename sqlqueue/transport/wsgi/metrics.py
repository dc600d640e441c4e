"""``GET /metrics`` and the per-request HTTP metrics (sqlqueue/observe).

The request metrics are labelled by the route's URI template, so queue names
and ids never become label values. A request refused before routing (a
missing Client-ID, say) is labelled with the template its path would have
matched, found by a second router used only then; a path no route matches
is ``unmatched``, and a method outside ``observe.metrics.METHODS`` is ``other``.
"""

from __future__ import annotations

import http
import time
from collections.abc import Iterable
from typing import Any

import falcon
from falcon.routing import CompiledRouter

from sqlqueue.config import Settings
from sqlqueue.observe.exposition import Exposition
from sqlqueue.observe.gauges import StoreGauges
from sqlqueue.observe.metrics import HTTP_DURATION, HTTP_REQUESTS, UNMATCHED, method_label
from sqlqueue.transport.wsgi.context import Deps, Request

PATH = "/metrics"
Status = http.HTTPStatus | str | int
"""A response's status as Falcon holds it (``resp.status``)."""
SCRAPE_TYPES = ("text/plain", "application/openmetrics-text")
"""What a scraper may accept instead of JSON (the other routes' condition)."""


def serves_metrics(settings: Settings) -> bool:
    """Whether this app answers ``GET /metrics`` (``metrics_endpoint``: admin, public, off)."""
    where = settings.metrics_endpoint
    return where == "public" or (where == "admin" and settings.admin_mode)


def exposition(deps: Deps) -> Exposition:
    """The metrics of this server, with the storage's gauges read at scrape time."""
    settings = deps.settings
    gauges = StoreGauges(
        deps.store,
        deps.admin,
        queues=settings.metrics_queues,
        timeout=settings.metrics_scrape_timeout,
    )
    return Exposition([gauges])


class Metrics:
    """``GET /metrics``: the Prometheus text exposition (OpenMetrics if accepted)."""

    def __init__(self, exposition: Exposition) -> None:
        self._exposition = exposition

    def on_get(self, req: Request, resp: falcon.Response) -> None:
        """Render every metric."""
        resp.data, resp.content_type = self._exposition.render(req.get_header("Accept"))


class RequestMetrics:
    """Count each answered request and observe its duration (falcon middleware).

    PERF: one counter increment and one histogram observation per request;
    the labelled children are cached per (method, route, status), keyed by
    the request's method and the status as the response holds it, so a
    cached answer needs neither ``method_label`` nor ``resp.status_code``.
    Methods outside ``METHODS`` (any token a client sends) are never cached
    keys, so the cache stays bounded.
    """

    def __init__(self, routes: Iterable[tuple[str, Any]]) -> None:
        self._router = CompiledRouter()
        for template, resource in routes:
            self._router.add_route(template, resource)
        self._children: dict[tuple[str, str, Status], tuple[Any, Any]] = {}

    def process_response(
        self, req: Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        """Count the answer (AccessLog started the clock)."""
        route = req.uri_template or self._template(req.path)
        key = (req.method, route, resp.status)
        children = self._children.get(key)
        if children is None:
            children = self._child(key)
        children[0].inc()
        children[1].observe(time.perf_counter() - req.context.started)

    def _template(self, path: str) -> str:
        found = self._router.find(path)
        return found[3] if found is not None and found[3] else UNMATCHED

    def _child(self, key: tuple[str, str, Status]) -> tuple[Any, Any]:
        """The counter and histogram children of a (method, route, status) key."""
        method, route, status = key
        label = method_label(method)
        children = (
            HTTP_REQUESTS.labels(label, route, str(falcon.http_status_to_code(status))),
            HTTP_DURATION.labels(label, route),
        )
        if label == method:
            self._children[key] = children
        return children
