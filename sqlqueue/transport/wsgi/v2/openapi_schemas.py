"""JSON Schemas (2020-12) of the v2 response bodies, as ``serializers`` builds them.

They are strict where clients are: message items carry exactly ``id, href,
ttl, age, body``, and ``checksum`` with ``enable_checksum`` (python-zaqarclient
crashes on any other key), and every href matches the route it names. Each
schema is a component of the OpenAPI document, referenced as
``#/components/schemas/<name>``.
"""

from __future__ import annotations

from typing import Any

from sqlqueue.domain import policy
from sqlqueue.transport.wsgi import schemas

Schema = dict[str, Any]

NAME = r"[a-zA-Z0-9_\-.]{1,64}"
ID = r"[a-zA-Z0-9_\-]+"
QUEUE_HREF = f"/v2/queues/{NAME}"
MESSAGE_HREF = f"{QUEUE_HREF}/messages/{ID}"
TOPIC_HREF = f"/v2/topics/{NAME}"
TOPIC_MESSAGE_HREF = f"{TOPIC_HREF}/messages/{ID}"
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
COUNT: Schema = {"type": "integer", "minimum": 0}
STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
CHECKSUM: Schema = {
    "type": "string",
    "pattern": "^MD5:[0-9a-f]{32}$",
    "description": "With enable_checksum: Zaqar's MD5 of the body as Python's json.dumps "
    "writes it (separators ', ' and ': ', ASCII escapes).",
}


def ref(name: str) -> Schema:
    """A reference to the schema component ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def strict(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with exactly these properties (``optional`` may be absent)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
    }


def matching(pattern: str) -> Schema:
    """A string matching ``pattern`` entirely."""
    return {"type": "string", "pattern": f"^{pattern}$"}


def array(items: Schema, *, min_items: int = 0) -> Schema:
    """An array of ``items``."""
    return {"type": "array", "items": items, "minItems": min_items}


def page(key: str, item: str) -> Schema:
    """One page of a collection: ``{key: [items], "links": [next?]}``."""
    return strict({key: array(ref(item)), "links": ref("Links")})


def _message(claimed: bool) -> Schema:
    claim = f"\\?claim_id={ID}" if claimed else f"(\\?claim_id={ID})?"
    return strict(
        {
            "id": matching(ID),
            "href": matching(MESSAGE_HREF + claim),
            "ttl": COUNT,
            "age": COUNT,
            "body": {},
        },
        {"checksum": CHECKSUM},
    )


def _messages() -> dict[str, Schema]:
    popped = strict(
        {
            "id": matching(ID),
            "ttl": COUNT,
            "age": COUNT,
            "body": {},
            "claim_id": {"type": ["string", "null"]},
            "claim_count": COUNT,
        },
        {"checksum": CHECKSUM},
    )
    listed = strict({"messages": array(ref("Message")), "links": ref("Links")})
    by_ids = strict({"messages": array(ref("Message"), min_items=1)})
    return {
        "Message": _message(claimed=False),
        "ClaimedMessage": _message(claimed=True),
        "MessagesRead": {"oneOf": [listed, by_ids]},
        "Posted": strict({"resources": array(matching(MESSAGE_HREF), min_items=1)}),
        "Popped": strict({"messages": array(popped)}),
        "ClaimedMessages": strict({"messages": array(ref("ClaimedMessage"), min_items=1)}),
        "Claim": strict(
            {
                "age": COUNT,
                "ttl": COUNT,
                "href": matching(f"{QUEUE_HREF}/claims/{ID}"),
                "messages": array(ref("ClaimedMessage")),
            }
        ),
    }


STATS_DESCRIPTION = (
    "Message counts of the queue. They are exact at any depth, not estimates: `total`"
    " counts the messages that have not expired (expired messages are never counted,"
    " collected or not), `claimed` those under a live claim, `free` the rest (delayed"
    " messages count as free). `oldest` and `newest` are the first and last live messages"
    " by posting order, claimed or not; both are absent when the queue is empty. A"
    " request costs the same for a queue of a thousand messages and of a million: it"
    " grows with the queue's claimed messages and its expired messages not yet collected,"
    " not with its free ones."
)


def _queues() -> dict[str, Schema]:
    queue = strict(
        {"name": matching(NAME), "href": matching(QUEUE_HREF)},
        {"metadata": ref("QueueMetadata")},
    )
    edge = strict({"age": COUNT, "created": matching(DATE + "Z"), "href": matching(MESSAGE_HREF)})
    counts = strict(
        {"free": COUNT, "claimed": COUNT, "total": COUNT}, {"oldest": edge, "newest": edge}
    )
    nullable_count = {"type": ["integer", "null"], "minimum": 0}
    reserved = {
        policy.DEFAULT_MESSAGE_TTL: COUNT,
        policy.MAX_MESSAGES_POST_SIZE: COUNT,
        policy.DEFAULT_MESSAGE_DELAY: COUNT,
        policy.DEAD_LETTER_QUEUE: {"type": ["string", "null"]},
        policy.DEAD_LETTER_QUEUE_MESSAGES_TTL: nullable_count,
        policy.MAX_CLAIM_COUNT: nullable_count,
        policy.ENABLE_ENCRYPT_MESSAGES: BOOLEAN,
    }
    return {
        "QueueList": strict(
            {"queues": array(ref("Queue")), "links": ref("Links")},
            {"count": {"type": "integer", "minimum": 1}},
        ),
        "Queue": queue,
        "QueueMetadata": {"type": "object", "required": list(reserved), "properties": reserved},
        "QueueStats": {
            **strict({"messages": counts}),
            "description": STATS_DESCRIPTION,
        },
        "Share": strict(
            {
                "project": STRING,
                "paths": array(matching(f"{QUEUE_HREF}/(messages|subscriptions|claims)")),
                "methods": array({"enum": list(schemas.SHARE_METHODS)}),
                "expires": matching(DATE),
                "signature": matching("[0-9a-f]{64}"),
            }
        ),
    }


def _subscriptions() -> dict[str, Schema]:
    subscription = strict(
        {
            "id": matching(ID),
            "source": matching(NAME),
            "subscriber": STRING,
            "ttl": COUNT,
            "age": COUNT,
            "options": {"type": "object"},
            "confirmed": BOOLEAN,
        },
        {
            "delivery": strict(
                {
                    "delivered": COUNT,
                    "pending": COUNT,
                    "failed": COUNT,
                    "last_error": {"type": ["string", "null"]},
                }
            )
        },
    )
    return {
        "Subscription": subscription,
        "SubscriptionList": page("subscriptions", "Subscription"),
        "SubscriptionCreated": strict({"subscription_id": matching(ID)}),
    }


def _discovery() -> dict[str, Schema]:
    version = strict(
        {
            "id": STRING,
            "status": {"enum": ["CURRENT", "SUPPORTED", "DEPRECATED"]},
            "updated": STRING,
            "media-types": array(strict({"base": STRING, "type": STRING}), min_items=1),
            "links": array(strict({"href": STRING, "rel": STRING}), min_items=1),
        }
    )
    hints = strict(
        {
            "allow": array({"enum": ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]}),
            "formats": {"type": "object"},
        }
    )
    resource = strict(
        {
            "href-template": {"type": "string", "pattern": "^/v2/"},
            "href-vars": {"type": "object", "additionalProperties": STRING},
            "hints": hints,
        }
    )
    resources = {
        "type": "object",
        "patternProperties": {"^rel/[a-z_]+$": resource},
        "additionalProperties": False,
    }
    openapi = {
        "type": "object",
        "required": ["openapi", "info", "paths", "components"],
        "properties": {"openapi": {"const": "3.1.0"}, "paths": {"type": "object"}},
    }
    return {
        "Versions": strict({"versions": array(version, min_items=1)}),
        "Home": strict({"resources": resources}),
        "OpenApi": openapi,
        "Metrics": {
            "type": "string",
            "description": "The Prometheus text exposition format (OpenMetrics when accepted)",
        },
        "Links": {
            "type": "array",
            "maxItems": 1,
            "items": strict({"rel": {"const": "next"}, "href": matching("/v2/[^?]+\\?.*")}),
        },
        "Error": strict({"title": STRING, "description": STRING}),
    }


def _admin() -> dict[str, Schema]:
    volume = strict({"free": COUNT, "claimed": COUNT, "total": COUNT})
    store = strict({"storage_reachable": BOOLEAN}, {"message_volume": volume})
    report = strict(
        {
            "catalog_reachable": BOOLEAN,
            "storage_reachable": BOOLEAN,
            "pools": {"type": "object", "additionalProperties": store},
        },
        {"message_volume": volume},
    )
    pool = strict(
        {
            "href": matching(f"/v2/pools/{NAME}"),
            "name": matching(NAME),
            "uri": STRING,
            "weight": COUNT,
            "flavor": {"type": ["string", "null"]},
        },
        {"options": {"type": "object"}},
    )
    flavor = strict(
        {
            "href": matching(f"/v2/flavors/{NAME}"),
            "name": matching(NAME),
            "pool_list": array(STRING),
        },
        {"capabilities": array(matching("[A-Z_]+"))},
    )
    entry = {
        "oneOf": [
            strict({"project": STRING, "queue": matching(NAME), "pool": STRING}),
            strict({"project": STRING, "topic": matching(NAME), "pool": STRING}),
        ]
    }
    return {
        "Health": {"oneOf": [store, report]},
        "Pool": pool,
        "PoolList": page("pools", "Pool"),
        "Flavor": flavor,
        "FlavorList": page("flavors", "Flavor"),
        "CatalogueEntry": entry,
        "CatalogueList": page("catalogue", "CatalogueEntry"),
        "QueueMoved": strict(
            {
                "project": STRING,
                "queue": matching(NAME),
                "pool": STRING,
                "source": STRING,
                "messages": COUNT,
                "pause_ms": {"type": "number", "minimum": 0},
            }
        ),
    }


def _topics() -> dict[str, Schema]:
    """A topic's bodies: a queue's, with topic hrefs, three metadata defaults and
    stats without claim counts (Zaqar 23, docs/topics.md)."""
    message = strict(
        {
            "id": matching(ID),
            "href": matching(TOPIC_MESSAGE_HREF),
            "ttl": COUNT,
            "age": COUNT,
            "body": {},
        },
        {"checksum": CHECKSUM},
    )
    listed = strict({"messages": array(ref("TopicMessage")), "links": ref("Links")})
    by_ids = strict({"messages": array(ref("TopicMessage"), min_items=1)})
    edge = strict(
        {"age": COUNT, "created": matching(DATE + "Z"), "href": matching(TOPIC_MESSAGE_HREF)}
    )
    zeros = strict({"free": {"const": 0}, "claimed": {"const": 0}, "total": {"const": 0}})
    counts = strict({"total": COUNT}, {"oldest": edge, "newest": edge})
    reserved = {
        policy.DEFAULT_MESSAGE_TTL: COUNT,
        policy.MAX_MESSAGES_POST_SIZE: COUNT,
        policy.DEFAULT_MESSAGE_DELAY: COUNT,
    }
    topic = strict(
        {"name": matching(NAME), "href": matching(TOPIC_HREF)},
        {"metadata": ref("TopicMetadata")},
    )
    return {
        "TopicList": strict({"topics": array(ref("Topic")), "links": ref("Links")}),
        "Topic": topic,
        "TopicMetadata": {"type": "object", "required": list(reserved), "properties": reserved},
        "TopicStats": {
            **strict({"messages": {"oneOf": [counts, zeros]}}),
            "description": "Message counts of an existing topic (nothing is ever claimed);"
            " the queue zeros for a missing one, as Zaqar 23 answers.",
        },
        "TopicMessage": message,
        "TopicMessagesRead": {"oneOf": [listed, by_ids]},
        "TopicPosted": strict({"resources": array(matching(TOPIC_MESSAGE_HREF), min_items=1)}),
    }


def response_schemas() -> dict[str, Schema]:
    """Every response-body schema by component name."""
    return {
        **_discovery(),
        **_queues(),
        **_messages(),
        **_subscriptions(),
        **_topics(),
        **_admin(),
    }
