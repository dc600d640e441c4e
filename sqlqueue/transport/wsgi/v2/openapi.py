"""The OpenAPI 3.1 document of the v2 API, built from the route table of ``documents``.

Every operation lists each status it can answer with the schema of its
body: its success statuses (from the route table), the errors every
operation can give (400 bad headers or body, 404 unknown resource or a
pre-signed URL that does not verify, 406 an Accept header without JSON),
503 on routes over the storage, 403 where the admin role is needed, and
the errors the table names. Request bodies use the very JSON schemas the
validator enforces (``transport.wsgi.schemas``), built from the limits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlqueue import __version__
from sqlqueue.domain.limits import MAX_WAIT, Limits
from sqlqueue.transport.wsgi import schemas
from sqlqueue.transport.wsgi.v2.openapi_schemas import NAME, Schema, ref, response_schemas
from sqlqueue.transport.wsgi.v2.operations import Op, Route

Document = dict[str, Any]

JSON = "application/json"
JSON_HOME = "application/json-home"
JSON_PATCH = "application/openstack-messaging-v2.0-json-patch"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

REQUESTS: dict[str, Callable[[Limits], Schema]] = {
    "NewMessages": schemas.messages,
    "ClaimRequest": schemas.claim,
    "QueueMetadataRequest": schemas.metadata,
    "QueueMetadataPatch": lambda _: schemas.json_patch(),
    "NewSubscription": lambda limits: schemas.subscription(limits, creating=True),
    "SubscriptionUpdate": lambda limits: schemas.subscription(limits, creating=False),
    "Confirmation": lambda _: schemas.confirm(),
    "ShareRequest": lambda _: schemas.share(),
    "PurgeRequest": lambda _: schemas.purge(),
    "NewPool": lambda _: schemas.pool(creating=True),
    "PoolUpdate": lambda _: schemas.pool(creating=False),
    "FlavorRequest": lambda _: schemas.flavor(),
    "QueueMove": lambda _: schemas.queue_move(),
}
"""Request-body schemas by component name, from the configured limits."""

MEDIA: dict[str, str] = {
    "QueueMetadataPatch": JSON_PATCH,
    "Home": JSON_HOME,
    "Metrics": "text/plain",
}
"""Media types of the bodies that are not plain JSON."""

SUCCESS = {"200": "OK", "201": "Created", "204": "No content", "300": "Multiple choices"}
ERRORS: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "Invalid headers, query parameters, queue or topic name, or body"),
    "403": ("Forbidden", "Needs the admin role, or not allowed in the resource's state"),
    "404": ("NotFound", "No such resource, or a pre-signed URL that does not verify"),
    "406": ("NotAcceptable", "The Accept header does not allow JSON"),
    "409": ("Conflict", "Conflicts with the current state"),
    "415": ("UnsupportedMediaType", f"The body is not {JSON_PATCH}"),
    "503": ("ServiceUnavailable", "The storage is unavailable; try again in a few seconds"),
}
"""Error statuses: component name and meaning. Every error body is an ``Error``."""
COMMON_ERRORS = ("400", "404", "406")
RESPONSE_NAMES = frozenset(response_schemas())

PARAMETERS: dict[str, Schema] = {
    "limit": {"type": "integer", "minimum": 1},
    "pop": {"type": "integer", "minimum": 1},
    "wait": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_WAIT,
        "description": "Long-poll: when nothing is available, wait up to this many "
        "seconds for a post before answering (default 0: answer at once).",
    },
    "ids": {"type": "array", "items": {"type": "string"}},
    "detailed": {"type": "boolean"},
    "with_count": {"type": "boolean"},
    "echo": {"type": "boolean"},
    "include_claimed": {"type": "boolean"},
    "include_delayed": {"type": "boolean"},
    "queue_name": {"type": "string", "pattern": f"^{NAME}$"},
    "topic_name": {"type": "string", "pattern": f"^{NAME}$"},
}
"""Parameter schemas beyond plain strings."""

HEADERS: dict[str, Document] = {
    "ClientId": {"name": "Client-ID", "in": "header", "required": True},
    "ProjectId": {"name": "X-Project-Id", "in": "header", "required": True},
    "Roles": {"name": "X-Roles", "in": "header", "required": False},
}


KEYSTONE_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "X-Auth-Token",
    "description": "A Keystone token (auth_strategy = keystone); the project and the roles "
    "are the token's, whatever X-Project-Id and X-Roles say (docs/auth.md).",
}
UNAUTHORIZED = {
    "description": "No token, or a bad, expired or revoked one (WWW-Authenticate names Keystone)",
    "content": {JSON: {"schema": ref("Error")}},
}
OPEN_PATHS = frozenset({"/"})
"""Paths served without a token under Keystone (the versions document, as Zaqar)."""


def with_keystone(doc: Document) -> Document:
    """``doc`` for an app behind Keystone: the token scheme and a 401 on every operation
    but those of ``OPEN_PATHS`` (a pre-signed URL, too, needs no token)."""
    paths = {
        path: {
            method: op if path in OPEN_PATHS else _unauthorized(op) for method, op in item.items()
        }
        for path, item in doc["paths"].items()
    }
    for path in OPEN_PATHS & paths.keys():
        paths[path] = {method: {**op, "security": []} for method, op in paths[path].items()}
    components = {
        **doc["components"],
        "securitySchemes": {"keystone": KEYSTONE_SCHEME},
        "responses": {**doc["components"]["responses"], "Unauthorized": UNAUTHORIZED},
    }
    return {**doc, "paths": paths, "components": components, "security": [{"keystone": []}]}


def _unauthorized(op: Document) -> Document:
    answers = {**op["responses"], "401": {"$ref": "#/components/responses/Unauthorized"}}
    return {**op, "responses": answers}


def path_vars(path: str) -> list[str]:
    """The names of the variables of a path template."""
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def document(routes: Sequence[Route], limits: Limits) -> Document:
    """The OpenAPI document of ``routes``."""
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": DIALECT,
        "info": {"title": "sqlqueue: the Zaqar v2 API", "version": __version__},
        "paths": {route.path: _path_item(route) for route in routes},
        "components": components(limits),
    }


def components(limits: Limits) -> Document:
    """Schemas of every body, the common headers and the error responses."""
    requests = {name: build(limits) for name, build in REQUESTS.items()}
    errors = {
        name: {"description": meaning, "content": {JSON: {"schema": ref("Error")}}}
        for name, meaning in ERRORS.values()
    }
    headers = {name: {**param, "schema": {"type": "string"}} for name, param in HEADERS.items()}
    return {
        "schemas": {**response_schemas(), **requests},
        "parameters": headers,
        "responses": errors,
    }


def _path_item(route: Route) -> Document:
    return {method.lower(): _operation(route, method, op) for method, op in route.methods.items()}


def _operation(route: Route, method: str, op: Op) -> Document:
    found: Document = {
        "operationId": f"{method.lower()}_{route.rel}",
        "summary": op.summary,
        "parameters": _parameters(route, op),
        "responses": _responses(route, op),
    }
    if op.body is not None:
        found["requestBody"] = _request_body(op.body, op.body_required)
    return found


def _parameters(route: Route, op: Op) -> list[Document]:
    found: list[Document] = [
        {"name": name, "in": "path", "required": True, "schema": _schema_of(name)}
        for name in path_vars(route.path)
    ]
    found += [_query(name) for name in route.query]
    if route.headers:
        found += [_header("ClientId"), _header("ProjectId")]
    if op.admin:
        found.append(_header("Roles"))
    return found


def _query(name: str) -> Document:
    param: Document = {"name": name, "in": "query", "schema": _schema_of(name)}
    if name == "ids":  # comma-separated and/or repeated
        param.update(style="form", explode=False)
    return param


def _schema_of(name: str) -> Schema:
    return PARAMETERS.get(name, {"type": "string"})


def _header(name: str) -> Document:
    return {"$ref": f"#/components/parameters/{name}"}


def _request_body(name: str, required: bool) -> Document:
    if name not in REQUESTS:
        raise KeyError(f"no request schema named {name}")
    return {"required": required, "content": {MEDIA.get(name, JSON): {"schema": ref(name)}}}


def _responses(route: Route, op: Op) -> Document:
    answers: Document = {status: _success(status, name) for status, name in op.ok.items()}
    for status in _error_statuses(route, op):
        answers[status] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    return dict(sorted(answers.items()))


def _error_statuses(route: Route, op: Op) -> set[str]:
    statuses = {*COMMON_ERRORS, *op.errors}
    if route.storage:
        statuses.add("503")
    if op.admin:
        statuses.add("403")
    return statuses


def _success(status: str, name: str | None) -> Document:
    found: Document = {"description": SUCCESS[status]}
    if status == "201":
        found["headers"] = {"Location": {"required": True, "schema": {"type": "string"}}}
    if name is not None:
        if name not in RESPONSE_NAMES:
            raise KeyError(f"no response schema named {name}")
        found["content"] = {MEDIA.get(name, JSON): {"schema": ref(name)}}
    return found
