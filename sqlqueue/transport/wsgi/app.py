"""Assemble the Falcon application: options, middleware, routes, error table."""

from __future__ import annotations

import json

import falcon
import falcon.media

from sqlqueue.config import Settings
from sqlqueue.control.base import ControlPlaneService
from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.storage.base import QueueStore
from sqlqueue.transport.wsgi import errors, metrics
from sqlqueue.transport.wsgi.context import Deps, Request
from sqlqueue.transport.wsgi.middleware import AccessLog, Guard, UnreadBody
from sqlqueue.transport.wsgi.v2 import routes
from sqlqueue.transport.wsgi.validation import Validator


def build_app(
    store: QueueStore,
    settings: Settings,
    *,
    secret: str,
    clock: Clock = system_clock,
    admin: ControlPlaneService | None = None,
) -> falcon.App[Request, falcon.Response]:
    """A WSGI app serving the Zaqar v2 API over ``store``.

    ``secret`` signs pre-signed URLs; every process serving the same clients
    must use the same one. ``admin`` is the control plane behind ``store``;
    its routes (pools, flavors, catalogue) are served only when
    ``settings.admin_mode``.
    """
    deps = Deps(store, settings, clock, secret, Validator(settings.limits), admin)
    table = routes(deps)
    app: falcon.App[Request, falcon.Response] = falcon.App(
        request_type=Request,
        middleware=[UnreadBody(), AccessLog(), metrics.RequestMetrics(table), Guard(deps)],
    )
    # As Zaqar: `ids=a,b` splits on commas and blank values count as absent.
    app.req_options.auto_parse_qs_csv = True
    app.req_options.keep_blank_qs_values = False
    app.req_options.strip_url_path_trailing_slash = False
    app.resp_options.secure_cookies_by_default = False
    # PERF: Falcon's default JSON handler calls json.dumps(..., ensure_ascii=False),
    # which builds an encoder per response; the same encoder, built once.
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = falcon.media.JSONHandler(
        dumps=json.JSONEncoder(ensure_ascii=False).encode
    )
    errors.install(app)
    for template, resource in table:
        app.add_route(template, resource)
    return app
