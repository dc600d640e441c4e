"""Which actions exist, and the keys and JSON types each one's body takes.

As Zaqar's per-action JSON schemas: required keys and types only, extra
keys allowed. Ranges, names and sizes are checked afterwards by the same
validation the HTTP API uses. Failures raise ``InvalidBody`` worded
``Schema validation failed: ...`` (Zaqar says only the first part).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlqueue.transport.wsgi.errors import InvalidBody

SCHEMA_FAILED = "Schema validation failed"

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


@dataclass(frozen=True)
class Spec:
    """The body keys of one action: ``{key: json type}`` and the required ones."""

    keys: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()


def _queue(required: tuple[str, ...] = (), **keys: str) -> Spec:
    return Spec({"queue_name": "string", **keys}, ("queue_name", *required))


SPECS: dict[str, Spec] = {
    "queue_list": Spec({"marker": "string", "limit": "integer", "detailed": "boolean"}),
    "queue_create": _queue(metadata="object"),
    "queue_delete": _queue(),
    "queue_get": _queue(),
    "queue_get_stats": _queue(),
    "queue_purge": _queue(resource_types="array"),
    "message_list": _queue(
        marker="string",
        limit="integer",
        echo="boolean",
        include_claimed="boolean",
        include_delayed="boolean",
    ),
    "message_get": _queue(("message_id",), message_id="string"),
    "message_get_many": _queue(("message_ids",), message_ids="array"),
    "message_post": _queue(("messages",), messages="array"),
    "message_delete": _queue(("message_id",), message_id="string", claim_id="string"),
    "message_delete_many": _queue(message_ids="array", claim_ids="array", pop="integer"),
    "claim_create": _queue(ttl="integer", grace="integer", limit="integer"),
    "claim_get": _queue(("claim_id",), claim_id="string"),
    "claim_update": _queue(("claim_id",), claim_id="string", ttl="integer", grace="integer"),
    "claim_delete": _queue(("claim_id",), claim_id="string"),
    "subscription_create": _queue(subscriber="string", ttl="integer", options="object"),
    "subscription_delete": _queue(("subscription_id",), subscription_id="string"),
    "subscription_get": _queue(("subscription_id",), subscription_id="string"),
    "subscription_list": _queue(marker="string", limit="integer"),
    "authenticate": Spec(),
}
"""Every action sqlqueue answers."""

UNSUPPORTED = frozenset(
    {
        "get_home_doc",
        "check_node_health",
        "ping_node",
        *(f"pool_{verb}" for verb in ("list", "create", "update", "get", "delete")),
        *(f"flavor_{verb}" for verb in ("list", "create", "update", "get", "delete")),
    }
)
"""Actions in Zaqar's schema that it never implemented (it drops the socket)."""


def check_body(action: str, body: Any) -> dict[str, Any]:
    """The body of ``action`` as a dict, its keys' types checked.

    :raises InvalidBody: not an object, a required key missing, a wrong type.
    """
    if not isinstance(body, dict):
        raise InvalidBody(f"{SCHEMA_FAILED}: body must be an object.")
    spec = SPECS[action]
    for key in spec.required:
        if key not in body:
            raise InvalidBody(f"{SCHEMA_FAILED}: body.{key} is required.")
    for key, kind in spec.keys.items():
        if key in body and not _is(body[key], kind):
            raise InvalidBody(f"{SCHEMA_FAILED}: body.{key} must be of type {kind}.")
    return body


def _is(value: Any, kind: str) -> bool:
    if kind != "boolean" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])
