"""Static documents: the version list, the JSON-home document and OpenAPI.

Both the home document and the OpenAPI description come from one route
table, so they cannot disagree. Each operation of the table names its
success statuses with the schema of their bodies, the errors it can give
beyond the common ones, and the schema of its request body; the schemas
and the OpenAPI builder live in ``openapi`` and ``openapi_schemas``.
"""

from __future__ import annotations

from typing import Any

from sqlqueue.domain.limits import Limits
from sqlqueue.transport.wsgi.v2 import openapi as spec
from sqlqueue.transport.wsgi.v2.operations import Op, Route

JSON = "application/json"
PATCH = "application/openstack-messaging-v2.0-json-patch"
Q = "/v2/queues/{queue_name}"
T = "/v2/topics/{topic_name}"
NO_BODY = None


def _get(summary: str, schema: str, *errors: str, admin: bool = False) -> Op:
    return Op(summary, {"200": schema}, errors, admin=admin)


def _done(summary: str, *errors: str, admin: bool = False) -> Op:
    return Op(summary, {"204": NO_BODY}, errors, admin=admin)


DISCOVERY = (
    Route(
        "versions",
        "/",
        (),
        {"GET": Op("List the API versions", {"300": "Versions"})},
        storage=False,
        headers=False,
    ),
    Route("home", "/v2/", (), {"GET": _get("The JSON-home document", "Home")}, storage=False),
    Route(
        "openapi",
        "/v2/openapi.json",
        (),
        {"GET": _get("This OpenAPI document", "OpenApi")},
        storage=False,
        headers=False,
    ),
)
"""Served by every app, described by OpenAPI only (not by the home document)."""

METRICS = Route(
    "metrics",
    "/metrics",
    (),
    {"GET": _get("Prometheus metrics of every worker (text exposition format)", "Metrics")},
    storage=False,
    headers=False,
)
"""Served where ``metrics_endpoint`` says (the admin app by default); OpenAPI only."""

ROUTES = (
    Route(
        "ping",
        "/v2/ping",
        (),
        {"GET": _done("Check the service"), "HEAD": _done("Check the service")},
    ),
    Route(
        "queues",
        "/v2/queues",
        ("marker", "limit", "detailed", "name", "with_count"),
        {"GET": _get("List queues (other query parameters filter on metadata)", "QueueList")},
    ),
    Route(
        "queue",
        Q,
        (),
        {
            "PUT": Op(
                "Create a queue (204, metadata unchanged, if it exists)",
                {"201": NO_BODY, "204": NO_BODY},
                body="QueueMetadataRequest",
                body_required=False,
            ),
            "GET": _get("Get queue metadata (defaults only for a missing queue)", "QueueMetadata"),
            "PATCH": Op(
                "Update queue metadata (JSON patch)",
                {"200": "QueueMetadata"},
                ("409", "415"),
                body="QueueMetadataPatch",
            ),
            "DELETE": _done("Delete a queue"),
        },
    ),
    Route("queue_stats", f"{Q}/stats", (), {"GET": _get("Get queue statistics", "QueueStats")}),
    Route(
        "queue_purge",
        f"{Q}/purge",
        (),
        {"POST": Op("Purge a queue", {"204": NO_BODY}, body="PurgeRequest", body_required=False)},
    ),
    Route(
        "queue_share",
        f"{Q}/share",
        (),
        {
            "POST": Op(
                "Create a pre-signed URL",
                {"200": "Share"},
                body="ShareRequest",
                body_required=False,
            )
        },
        storage=False,
    ),
    Route(
        "messages",
        f"{Q}/messages",
        ("marker", "limit", "echo", "include_claimed", "include_delayed", "ids", "pop", "wait"),
        {
            "POST": Op(
                "Post messages (at most max_messages_per_post, default 1000, per request)",
                {"201": "Posted"},
                body="NewMessages",
            ),
            "GET": _get("List messages, or get them by ids", "MessagesRead"),
            "DELETE": Op(
                "Delete messages by ids (204) or pop them (200)",
                {"200": "Popped", "204": NO_BODY},
            ),
        },
    ),
    Route(
        "message",
        f"{Q}/messages/{{message_id}}",
        ("claim_id",),
        {
            "GET": _get("Get a message", "Message"),
            "DELETE": _done("Delete a message", "403"),
        },
    ),
    Route(
        "claims",
        f"{Q}/claims",
        ("limit", "wait"),
        {
            "POST": Op(
                "Claim messages (204 when none is free)",
                {"201": "ClaimedMessages", "204": NO_BODY},
                body="ClaimRequest",
                body_required=False,
            )
        },
    ),
    Route(
        "claim",
        f"{Q}/claims/{{claim_id}}",
        (),
        {
            "GET": _get("Get a claim", "Claim"),
            "PATCH": Op("Renew a claim", {"204": NO_BODY}, body="ClaimRequest"),
            "DELETE": _done("Release a claim"),
        },
    ),
    Route(
        "subscriptions",
        f"{Q}/subscriptions",
        ("marker", "limit"),
        {
            "GET": _get("List subscriptions", "SubscriptionList"),
            "POST": Op(
                "Subscribe", {"201": "SubscriptionCreated"}, ("409",), body="NewSubscription"
            ),
        },
    ),
    Route(
        "subscription",
        f"{Q}/subscriptions/{{subscription_id}}",
        (),
        {
            "GET": _get("Get a subscription", "Subscription"),
            "PATCH": Op(
                "Update a subscription", {"204": NO_BODY}, ("409",), body="SubscriptionUpdate"
            ),
            "DELETE": _done("Delete a subscription"),
        },
    ),
    Route(
        "subscription_confirm",
        f"{Q}/subscriptions/{{subscription_id}}/confirm",
        (),
        {"PUT": Op("Confirm a subscription", {"204": NO_BODY}, body="Confirmation")},
    ),
)

TOPIC_ROUTES = (
    Route(
        "topics",
        "/v2/topics",
        ("marker", "limit", "detailed", "name"),
        {"GET": _get("List topics (other query parameters filter on metadata)", "TopicList")},
    ),
    Route(
        "topic",
        T,
        (),
        {
            "PUT": Op(
                "Create a topic (204, metadata unchanged, if it exists)",
                {"201": NO_BODY, "204": NO_BODY},
                body="QueueMetadataRequest",
                body_required=False,
            ),
            "GET": _get("Get topic metadata (defaults only for a missing topic)", "TopicMetadata"),
            "PATCH": Op(
                "Update topic metadata (JSON patch)",
                {"200": "TopicMetadata"},
                ("409", "415"),
                body="QueueMetadataPatch",
            ),
            "DELETE": _done("Delete a topic (the queue of the same name stays)"),
        },
    ),
    Route("topic_stats", f"{T}/stats", (), {"GET": _get("Get topic statistics", "TopicStats")}),
    Route(
        "topic_purge",
        f"{T}/purge",
        (),
        {"POST": Op("Purge a topic", {"204": NO_BODY}, body="PurgeRequest", body_required=False)},
    ),
    Route(
        "topic_messages",
        f"{T}/messages",
        ("marker", "limit", "echo", "include_delayed", "ids", "wait"),
        {
            "POST": Op(
                "Post messages to every subscriber of the topic",
                {"201": "TopicPosted"},
                body="NewMessages",
            ),
            "GET": _get("List a topic's messages, or get them by ids", "TopicMessagesRead"),
            "DELETE": _done("Delete a topic's messages by ids (never popped)"),
        },
    ),
    Route(
        "topic_message",
        f"{T}/messages/{{message_id}}",
        (),
        {
            "GET": _get("Get a topic's message", "TopicMessage"),
            "DELETE": _done("Delete a topic's message"),
        },
    ),
    Route(
        "topic_subscriptions",
        f"{T}/subscriptions",
        ("marker", "limit"),
        {
            "GET": _get("List a topic's subscriptions", "SubscriptionList"),
            "POST": Op(
                "Subscribe to a topic",
                {"201": "SubscriptionCreated"},
                ("409",),
                body="NewSubscription",
            ),
        },
    ),
    Route(
        "topic_subscription",
        f"{T}/subscriptions/{{subscription_id}}",
        (),
        {
            "GET": _get("Get a topic's subscription", "Subscription"),
            "PATCH": Op(
                "Update a topic's subscription",
                {"204": NO_BODY},
                ("409",),
                body="SubscriptionUpdate",
            ),
            "DELETE": _done("Delete a topic's subscription"),
        },
    ),
    Route(
        "topic_subscription_confirm",
        f"{T}/subscriptions/{{subscription_id}}/confirm",
        (),
        {"PUT": Op("Confirm a topic's subscription", {"204": NO_BODY}, body="Confirmation")},
    ),
)
"""Topics (docs/topics.md): the queue routes' shapes under ``/v2/topics``, no claims."""

ADMIN_ROUTES = (
    Route(
        "health",
        "/v2/health",
        (),
        {"GET": _get("Health of every database", "Health", admin=True)},
        storage=False,
    ),
    Route(
        "pools",
        "/v2/pools",
        ("marker", "limit", "detailed"),
        {"GET": _get("List pools", "PoolList", admin=True)},
    ),
    Route(
        "pool",
        "/v2/pools/{pool_name}",
        ("detailed",),
        {
            "PUT": Op("Register a pool", {"201": NO_BODY}, ("409",), body="NewPool", admin=True),
            "GET": _get("Get a pool", "Pool", admin=True),
            "PATCH": Op("Update a pool", {"200": "Pool"}, ("409",), body="PoolUpdate", admin=True),
            "DELETE": _done("Remove a pool (403 while in use)", admin=True),
        },
    ),
    Route(
        "flavors",
        "/v2/flavors",
        ("marker", "limit", "detailed"),
        {"GET": _get("List flavors", "FlavorList")},
    ),
    Route(
        "flavor",
        "/v2/flavors/{flavor_name}",
        (),
        {
            "PUT": Op("Create a flavor", {"201": NO_BODY}, body="FlavorRequest", admin=True),
            "GET": _get("Get a flavor", "Flavor"),
            "PATCH": Op(
                "Update a flavor's pools", {"200": "Flavor"}, body="FlavorRequest", admin=True
            ),
            "DELETE": _done("Delete a flavor", admin=True),
        },
    ),
    Route(
        "catalogue",
        "/v2/catalogue",
        ("project", "marker", "limit"),
        {"GET": _get("List queue placements", "CatalogueList", admin=True)},
    ),
    Route(
        "catalogue_entry",
        "/v2/catalogue/{queue_name}",
        (),
        {
            "GET": _get("Get a queue's pool", "CatalogueEntry", admin=True),
            "PUT": Op(
                "Move the queue, live, with its messages, claims and subscriptions, to a pool",
                {"200": "QueueMoved"},
                ("409",),
                body="QueueMove",
                admin=True,
            ),
        },
    ),
)


def routes(admin: bool, control: bool = True) -> tuple[Route, ...]:
    """The routes of the public app, or of the admin app.

    ``control`` False: an admin app with no control plane (a bare driver),
    which serves health only.
    """
    if not admin:
        return (*ROUTES, *TOPIC_ROUTES)
    extra = ADMIN_ROUTES if control else tuple(r for r in ADMIN_ROUTES if r.rel == "health")
    return (*ROUTES, *TOPIC_ROUTES, *extra)


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


def _home_entry(route: Route) -> dict[str, Any]:
    names = spec.path_vars(route.path) + list(route.query)
    template = route.path + (f"{{?{','.join(route.query)}}}" if route.query else "")
    formats: dict[str, Any] = {PATCH if route.rel in ("queue", "topic") else JSON: {}}
    return {
        "href-template": template,
        "href-vars": {name: f"param/{name}" for name in names},
        "hints": {"allow": list(route.methods), "formats": formats},
    }


def home(admin: bool = False, control: bool = True) -> dict[str, Any]:
    """The JSON-home document of the public (or admin) app."""
    return {"resources": {f"rel/{r.rel}": _home_entry(r) for r in routes(admin, control)}}


def openapi(
    admin: bool = False,
    limits: Limits | None = None,
    control: bool = True,
    metrics: bool = False,
    *,
    keystone: bool = False,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the public (or admin) app (with ``/metrics`` if it serves it).

    Request-body schemas follow ``limits`` (Zaqar's defaults when None);
    ``keystone``: the app sits behind Keystone (a token on every request).
    """
    extra = (METRICS,) if metrics else ()
    doc = spec.document((*DISCOVERY, *routes(admin, control), *extra), limits or Limits())
    return spec.with_keystone(doc) if keystone else doc
