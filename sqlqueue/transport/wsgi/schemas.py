"""JSON schemas of request bodies, built from the configured limits."""

from __future__ import annotations

from typing import Any

from sqlqueue.domain import policy
from sqlqueue.domain.limits import Limits

Schema = dict[str, Any]

INT32_MAX = 2**31 - 1
SUBSCRIBER_MAX = 1024
SHARE_PATHS = ("messages", "subscriptions", "claims")
SHARE_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
PURGE_TYPES = ("messages", "subscriptions")
BACKOFF_FUNCTIONS = ("linear", "arithmetic", "exponential", "geometric")


def integer(low: int, high: int, *, nullable: bool = False) -> Schema:
    """An integer in ``low..high`` (optionally null)."""
    kind: Any = ["integer", "null"] if nullable else "integer"
    return {"type": kind, "minimum": low, "maximum": high}


LOCATION_MAX = 2048
"""Bytes of a post's Location header listing the new messages' ids; a longer
list is not put in a header (see ``serializers.posted``)."""


def messages(limits: Limits) -> Schema:
    """``{"messages": [{"body", "ttl"?, "delay"?}, ...]}``, at most
    ``max_messages_per_post`` of them."""
    item = {
        "type": "object",
        "required": ["body"],
        "properties": {
            "ttl": integer(limits.min_message_ttl, limits.max_message_ttl),
            "delay": integer(0, limits.max_message_delay),
        },
    }
    return {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {
                "type": "array",
                "minItems": 1,
                "maxItems": limits.max_messages_per_post,
                "items": item,
                "description": (
                    f"At most {limits.max_messages_per_post} messages per post"
                    f" (max_messages_per_post) and {limits.max_messages_post_size} bytes"
                    " (max_messages_post_size). The 201's body lists every new message;"
                    f" its Location header lists their ids while it fits in {LOCATION_MAX}"
                    " bytes, and otherwise names the queue's messages."
                ),
            }
        },
    }


def claim(limits: Limits) -> Schema:
    """``{"ttl"?, "grace"?}``."""
    return {
        "type": "object",
        "properties": {
            "ttl": integer(limits.min_claim_ttl, limits.max_claim_ttl),
            "grace": integer(limits.min_claim_grace, limits.max_claim_grace),
        },
    }


def _retry_policy() -> Schema:
    counts = (
        "retries_with_no_delay",
        "minimum_delay_retries",
        "minimum_delay",
        "maximum_delay",
        "maximum_delay_retries",
    )
    props: dict[str, Schema] = {key: integer(0, INT32_MAX) for key in counts}
    props["retry_backoff_function"] = {"enum": list(BACKOFF_FUNCTIONS)}
    props["ignore_subscription_override"] = {"type": "boolean"}
    return {"type": ["object", "null"], "properties": props}


def metadata(limits: Limits) -> Schema:
    """Queue metadata: any object; reserved ``_`` keys typed and ranged."""
    ttl = integer(limits.min_message_ttl, limits.max_message_ttl, nullable=True)
    queue_name = {
        "type": ["string", "null"],
        "maxLength": limits.max_queue_name_length,
        "pattern": r"^[a-zA-Z0-9_\-.]+\Z",
    }
    props = {
        policy.DEFAULT_MESSAGE_TTL: ttl,
        policy.MAX_MESSAGES_POST_SIZE: integer(1, limits.max_messages_post_size, nullable=True),
        policy.DEFAULT_MESSAGE_DELAY: integer(0, limits.max_message_delay, nullable=True),
        policy.DEAD_LETTER_QUEUE: queue_name,
        policy.DEAD_LETTER_QUEUE_MESSAGES_TTL: ttl,
        policy.MAX_CLAIM_COUNT: integer(0, INT32_MAX, nullable=True),
        policy.ENABLE_ENCRYPT_MESSAGES: {"type": ["boolean", "null"]},
        policy.RETRY_POLICY: _retry_policy(),
        policy.FLAVOR: {"type": ["string", "null"], "maxLength": 64},
        policy.BLOB_THRESHOLD: integer(policy.BLOB_MIN_THRESHOLD, INT32_MAX, nullable=True),
    }
    return {"type": "object", "properties": props}


def json_patch() -> Schema:
    """A JSON-patch document restricted to add/replace/remove."""
    op = {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"enum": ["add", "replace", "remove"]},
            "path": {"type": "string"},
        },
    }
    return {"type": "array", "minItems": 1, "items": op}


def subscription(limits: Limits, *, creating: bool) -> Schema:
    """``{"subscriber", "ttl"?, "options"?}`` (subscriber required on create)."""
    schema: Schema = {
        "type": "object",
        "minProperties": 1,
        "properties": {
            "subscriber": {"type": "string", "minLength": 1, "maxLength": SUBSCRIBER_MAX},
            "ttl": integer(limits.min_subscription_ttl, INT32_MAX),
            "options": {"type": "object"},
        },
    }
    if creating:
        schema["required"] = ["subscriber"]
    return schema


def confirm() -> Schema:
    """``{"confirmed": bool}``."""
    return {
        "type": "object",
        "required": ["confirmed"],
        "properties": {"confirmed": {"type": "boolean"}},
    }


def share() -> Schema:
    """``{"paths"?, "methods"?, "expires"?}`` and nothing else."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "paths": _unique_list(SHARE_PATHS),
            "methods": _unique_list(SHARE_METHODS),
            "expires": {"type": "string"},
        },
    }


def purge() -> Schema:
    """``{"resource_types"?: [...]}`` and nothing else."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"resource_types": _unique_list(PURGE_TYPES)},
    }


def _unique_list(choices: tuple[str, ...]) -> Schema:
    return {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(choices)}}


POOL_URI_MAX = 255
POOL_WEIGHT_MAX = 2**32 - 1
NAME_MAX = 64


def pool(*, creating: bool) -> Schema:
    """``{"uri", "weight", "flavor"?, "options"?}`` (uri and weight required on create)."""
    schema: Schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "uri": {"type": "string", "minLength": 1, "maxLength": POOL_URI_MAX},
            "weight": integer(0, POOL_WEIGHT_MAX),
            "flavor": {"type": ["string", "null"], "maxLength": NAME_MAX},
            "options": {"type": "object"},
        },
    }
    if creating:
        schema["required"] = ["uri", "weight"]
    return schema


def queue_move() -> Schema:
    """``{"pool": name}``: the pool to move a queue to (admin catalogue PUT)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["pool"],
        "properties": {"pool": {"type": "string", "minLength": 1, "maxLength": NAME_MAX}},
    }


def flavor() -> Schema:
    """``{"pool_list": [names], "capabilities"?: {}}`` and nothing else."""
    name = {"type": "string", "minLength": 1, "maxLength": NAME_MAX}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["pool_list"],
        "properties": {
            "pool_list": {"type": "array", "minItems": 1, "uniqueItems": True, "items": name},
            "capabilities": {"type": "object"},
        },
    }
