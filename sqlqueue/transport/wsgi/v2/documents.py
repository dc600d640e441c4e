"""Static documents: the version list, the JSON-home document and OpenAPI.

Both the home document and the OpenAPI description come from one route
table, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlqueue import __version__

JSON = "application/json"
PATCH = "application/openstack-messaging-v2.0-json-patch"
Q = "/v2/queues/{queue_name}"


@dataclass(frozen=True)
class Route:
    """One resource: its relation name, path, query variables and methods."""

    rel: str
    path: str
    query: tuple[str, ...]
    methods: dict[str, tuple[str, str]]  # method -> (summary, success status)


ROUTES = (
    Route("ping", "/v2/ping", (), {"GET": ("Check the service", "204")}),
    Route(
        "queues",
        "/v2/queues",
        ("marker", "limit", "detailed", "name", "with_count"),
        {"GET": ("List queues", "200")},
    ),
    Route(
        "queue",
        Q,
        (),
        {
            "PUT": ("Create a queue", "201"),
            "GET": ("Get queue metadata", "200"),
            "PATCH": ("Update queue metadata (JSON patch)", "200"),
            "DELETE": ("Delete a queue", "204"),
        },
    ),
    Route("queue_stats", f"{Q}/stats", (), {"GET": ("Get queue statistics", "200")}),
    Route("queue_purge", f"{Q}/purge", (), {"POST": ("Purge a queue", "204")}),
    Route("queue_share", f"{Q}/share", (), {"POST": ("Create a pre-signed URL", "200")}),
    Route(
        "messages",
        f"{Q}/messages",
        ("marker", "limit", "echo", "include_claimed", "include_delayed", "ids", "pop"),
        {
            "POST": ("Post messages", "201"),
            "GET": ("List messages, or get them by ids", "200"),
            "DELETE": ("Delete messages by ids (204) or pop them (200)", "204"),
        },
    ),
    Route(
        "message",
        f"{Q}/messages/{{message_id}}",
        ("claim_id",),
        {"GET": ("Get a message", "200"), "DELETE": ("Delete a message", "204")},
    ),
    Route("claims", f"{Q}/claims", ("limit",), {"POST": ("Claim messages", "201")}),
    Route(
        "claim",
        f"{Q}/claims/{{claim_id}}",
        (),
        {
            "GET": ("Get a claim", "200"),
            "PATCH": ("Renew a claim", "204"),
            "DELETE": ("Release a claim", "204"),
        },
    ),
    Route(
        "subscriptions",
        f"{Q}/subscriptions",
        ("marker", "limit"),
        {"GET": ("List subscriptions", "200"), "POST": ("Subscribe", "201")},
    ),
    Route(
        "subscription",
        f"{Q}/subscriptions/{{subscription_id}}",
        (),
        {
            "GET": ("Get a subscription", "200"),
            "PATCH": ("Update a subscription", "204"),
            "DELETE": ("Delete a subscription", "204"),
        },
    ),
    Route(
        "subscription_confirm",
        f"{Q}/subscriptions/{{subscription_id}}/confirm",
        (),
        {"PUT": ("Confirm a subscription", "204")},
    ),
)

ADMIN_ROUTES = (
    Route("health", "/v2/health", (), {"GET": ("Health of every database", "200")}),
    Route(
        "pools",
        "/v2/pools",
        ("marker", "limit", "detailed"),
        {"GET": ("List pools", "200")},
    ),
    Route(
        "pool",
        "/v2/pools/{pool_name}",
        ("detailed",),
        {
            "PUT": ("Register a pool", "201"),
            "GET": ("Get a pool", "200"),
            "PATCH": ("Update a pool", "200"),
            "DELETE": ("Remove a pool", "204"),
        },
    ),
    Route(
        "flavors",
        "/v2/flavors",
        ("marker", "limit", "detailed"),
        {"GET": ("List flavors", "200")},
    ),
    Route(
        "flavor",
        "/v2/flavors/{flavor_name}",
        (),
        {
            "PUT": ("Create a flavor", "201"),
            "GET": ("Get a flavor", "200"),
            "PATCH": ("Update a flavor's pools", "200"),
            "DELETE": ("Delete a flavor", "204"),
        },
    ),
    Route(
        "catalogue",
        "/v2/catalogue",
        ("project", "marker", "limit"),
        {"GET": ("List queue placements", "200")},
    ),
    Route(
        "catalogue_entry",
        "/v2/catalogue/{queue_name}",
        (),
        {"GET": ("Get a queue's pool", "200")},
    ),
)


def routes(admin: bool) -> tuple[Route, ...]:
    """The routes of the public app, or of the admin app."""
    return (*ROUTES, *ADMIN_ROUTES) if admin else ROUTES


VERSIONS: dict[str, Any] = {
    "versions": [
        {
            "id": "2",
            "status": "CURRENT",
            "updated": "2014-9-24T04:06:47Z",
            "media-types": [{"base": JSON, "type": "application/vnd.openstack.messaging-v2+json"}],
            "links": [{"href": "/v2/", "rel": "self"}],
        }
    ]
}


def _path_vars(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _home_entry(route: Route) -> dict[str, Any]:
    names = _path_vars(route.path) + list(route.query)
    template = route.path + (f"{{?{','.join(route.query)}}}" if route.query else "")
    formats: dict[str, Any] = {PATCH if route.rel == "queue" else JSON: {}}
    return {
        "href-template": template,
        "href-vars": {name: f"param/{name}" for name in names},
        "hints": {"allow": list(route.methods), "formats": formats},
    }


def home(admin: bool = False) -> dict[str, Any]:
    """The JSON-home document of the public (or admin) app."""
    return {"resources": {f"rel/{r.rel}": _home_entry(r) for r in routes(admin)}}


def _parameters(route: Route) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_vars(route.path)
    ]
    found += [{"name": name, "in": "query", "schema": {"type": "string"}} for name in route.query]
    found += [{"$ref": "#/components/parameters/ClientId"}]
    found += [{"$ref": "#/components/parameters/ProjectId"}]
    return found


def _operation(route: Route, summary: str, status: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": _parameters(route),
        "responses": {
            status: {"description": "Success"},
            "default": {"$ref": "#/components/responses/Error"},
        },
    }


_HEADER = {"in": "header", "required": True, "schema": {"type": "string"}}
_ERROR = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
}
COMPONENTS: dict[str, Any] = {
    "parameters": {
        "ClientId": {"name": "Client-ID", **_HEADER},
        "ProjectId": {"name": "X-Project-Id", **_HEADER},
    },
    "responses": {"Error": {"description": "An error", "content": {JSON: {"schema": _ERROR}}}},
}


def openapi(admin: bool = False) -> dict[str, Any]:
    """An OpenAPI 3.1 document of the v2 routes (of the admin app when ``admin``)."""
    paths = {
        route.path: {
            method.lower(): _operation(route, summary, status)
            for method, (summary, status) in route.methods.items()
        }
        for route in routes(admin)
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "sqlqueue: the Zaqar v2 API", "version": __version__},
        "paths": paths,
        "components": COMPONENTS,
    }
