"""Request-body validation: JSON schemas plus the rules schemas cannot say.

Every failure raises ``InvalidBody`` (400 "Invalid request body"), except
JSON-patch operations on absent keys, which raise ``Conflict`` (409).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from sqlqueue import errors
from sqlqueue.domain import policy
from sqlqueue.domain.documents import DOCUMENT_BYTES, TEXT_BYTES, TooLarge, encode_within
from sqlqueue.domain.limits import Limits
from sqlqueue.domain.models import NewMessage
from sqlqueue.transport.wsgi import schemas, signing
from sqlqueue.transport.wsgi.errors import InvalidBody

SUBSCRIBER_TYPES = ("http", "https", "mailto", "trust+http", "trust+https")
_NO_SPACE = re.compile(r"[^\x00-\x20\x7f]+")
_MESSAGE_MAX = 200


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Any:
    """``uniqueItems`` in linear time (jsonschema compares unsortable items,
    such as objects, pairwise: a 25 KB list of objects cost 15 s)."""
    if not unique or not validator.is_type(instance, "array"):
        return
    keys = [_canonical(item) for item in instance]
    if len(set(keys)) != len(keys):
        yield ValidationError("has non-unique elements")


def _canonical(value: Any) -> Any:
    """A hashable key equal for JSON-equal values (1 == 1.0, but True != 1)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(_canonical(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))
    return (type(value).__name__, value)


StrictValidator = validators.extend(
    Draft202012Validator,
    validators={"uniqueItems": _unique_items},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@dataclass(frozen=True)
class PatchOp:
    """One JSON-patch operation on a metadata key."""

    op: str
    key: str
    value: Any = None


def reserved_defaults(limits: Limits) -> dict[str, Any]:
    """Reserved metadata shown for keys a queue leaves absent or falsy."""
    return {
        policy.DEFAULT_MESSAGE_TTL: limits.default_message_ttl,
        policy.MAX_MESSAGES_POST_SIZE: limits.max_messages_post_size,
        policy.DEFAULT_MESSAGE_DELAY: limits.default_message_delay,
        policy.DEAD_LETTER_QUEUE: None,
        policy.DEAD_LETTER_QUEUE_MESSAGES_TTL: None,
        policy.MAX_CLAIM_COUNT: None,
        policy.ENABLE_ENCRYPT_MESSAGES: False,
    }


class Validator:
    """Validators for each kind of body, compiled once for the given limits."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._reserved = frozenset(reserved_defaults(limits)) | {
            policy.RETRY_POLICY,
            policy.FLAVOR,
            policy.BLOB_THRESHOLD,
        }
        build = StrictValidator
        self._messages = build(schemas.messages(limits))
        self._claim = build(schemas.claim(limits))
        self._metadata = build(schemas.metadata(limits))
        self._patch = build(schemas.json_patch())
        self._sub_create = build(schemas.subscription(limits, creating=True))
        self._sub_update = build(schemas.subscription(limits, creating=False))
        self._confirm = build(schemas.confirm())
        self._share = build(schemas.share())
        self._purge = build(schemas.purge())
        self._pool = build(schemas.pool(creating=True))
        self._pool_patch = build(schemas.pool(creating=False))
        self._flavor = build(schemas.flavor())
        self._move = build(schemas.queue_move())

    def messages(self, document: Any) -> list[NewMessage]:
        """The messages of a POST body (at most ``max_messages_per_post``)."""
        batch = document.get("messages") if isinstance(document, dict) else None
        cap = self._limits.max_messages_per_post
        if isinstance(batch, list) and len(batch) > cap:
            raise InvalidBody(
                f"No more than {cap} messages may be posted at once (max_messages_per_post);"
                f" this post has {len(batch)}."
            )
        if not self._plainly_valid_messages(document):
            _check(self._messages, document)
        return [
            NewMessage.posted(m["body"], m.get("ttl"), m.get("delay")) for m in document["messages"]
        ]

    def _plainly_valid_messages(self, document: Any) -> bool:
        """True only for a POST body the messages schema surely accepts.

        PERF: jsonschema costs tens of microseconds per message; this plain
        check covers the common body, and anything it is unsure of (floats,
        unusual shapes, errors) goes to the schema, which words the error.
        """
        batch = document.get("messages") if isinstance(document, dict) else None
        if not isinstance(batch, list) or not batch:
            return False
        lim = self._limits
        ttl_range = (lim.min_message_ttl, lim.max_message_ttl)
        delay_range = (0, lim.max_message_delay)
        return all(
            type(item) is dict
            and "body" in item
            and _plain_int_in(item, "ttl", ttl_range)
            and _plain_int_in(item, "delay", delay_range)
            for item in batch
        )

    def claim(self, document: Any) -> tuple[int, int]:
        """``(ttl, grace)`` of a claim body (None means all defaults)."""
        document = {} if document is None else document
        if not self._plainly_valid_claim(document):
            _check(self._claim, document)
        ttl = document.get("ttl", self._limits.default_claim_ttl)
        grace = document.get("grace", self._limits.default_claim_grace)
        return ttl, grace

    def _plainly_valid_claim(self, document: Any) -> bool:
        """True only for a claim body the claim schema surely accepts (PERF, as messages)."""
        lim = self._limits
        return (
            type(document) is dict
            and _plain_int_in(document, "ttl", (lim.min_claim_ttl, lim.max_claim_ttl))
            and _plain_int_in(document, "grace", (lim.min_claim_grace, lim.max_claim_grace))
        )

    def metadata(self, document: Any) -> dict[str, Any]:
        """Queue metadata as PUT or as it results from a PATCH."""
        document = {} if document is None else document
        _check(self._metadata, document)
        limit = min(self._limits.max_queue_metadata, DOCUMENT_BYTES)
        fits(document, limit, "Queue metadata")
        return dict(document)

    def patch(self, document: Any) -> list[PatchOp]:
        """The operations of a JSON-patch body."""
        _check(self._patch, document)
        ops = []
        for item in document:
            if item["op"] != "remove" and "value" not in item:
                raise InvalidBody(f"Missing value for the '{item['op']}' operation.")
            ops.append(PatchOp(item["op"], _metadata_key(item["path"]), item.get("value")))
        return ops

    def apply(self, stored: dict[str, Any], ops: list[PatchOp]) -> dict[str, Any]:
        """The metadata after ``ops`` (validated). :raises Conflict: absent key."""
        meta = dict(stored)
        for op in ops:
            known = op.key in meta or op.key in self._reserved
            if op.op == "add" or (op.op == "replace" and known):
                meta[op.key] = op.value
            elif op.op == "remove" and known:
                meta.pop(op.key, None)
            else:
                raise errors.Conflict(f"Cannot {op.op} '{op.key}': no such metadata key.")
        return self.metadata(meta)

    def subscription(self, document: Any) -> tuple[str, int, dict[str, Any]]:
        """``(subscriber, ttl, options)`` of a subscription POST body."""
        _check(self._sub_create, document)
        subscriber = _subscriber(document["subscriber"])
        ttl = document.get("ttl", self._limits.default_subscription_ttl)
        options = document.get("options", {})
        fits(options, TEXT_BYTES, "Subscription options")
        return subscriber, ttl, options

    def subscription_update(self, document: Any) -> dict[str, Any]:
        """The fields a subscription PATCH body changes."""
        _check(self._sub_update, document)
        changes = {k: document[k] for k in ("subscriber", "ttl", "options") if k in document}
        if "subscriber" in changes:
            changes["subscriber"] = _subscriber(changes["subscriber"])
        if "options" in changes:
            fits(changes["options"], TEXT_BYTES, "Subscription options")
        return changes

    def confirm(self, document: Any) -> bool:
        """The ``confirmed`` flag of a confirmation body."""
        _check(self._confirm, document)
        return bool(document["confirmed"])

    def purge(self, document: Any) -> set[str]:
        """The resource types to purge (both when the body is empty)."""
        document = {} if document is None else document
        _check(self._purge, document)
        return set(document.get("resource_types", schemas.PURGE_TYPES))

    def pool(self, document: Any) -> dict[str, Any]:
        """The fields of a pool PUT body (``uri`` and ``weight`` required)."""
        _check(self._pool, document)
        fits(document.get("options", {}), TEXT_BYTES, "Pool options")
        return dict(document)

    def queue_move(self, document: Any) -> str:
        """The pool named by a catalogue PUT body (a queue move)."""
        _check(self._move, document)
        return str(document["pool"])

    def pool_patch(self, document: Any) -> dict[str, Any]:
        """The fields a pool PATCH body changes (at least one)."""
        if isinstance(document, dict) and not document:
            raise InvalidBody("One of uri, weight, flavor or options needs to be specified.")
        _check(self._pool_patch, document)
        fits(document.get("options", {}), TEXT_BYTES, "Pool options")
        return dict(document)

    def flavor(self, document: Any) -> tuple[list[str], dict[str, Any] | None]:
        """``(pool_list, capabilities)`` of a flavor PUT or PATCH body."""
        _check(self._flavor, document)
        fits(document.get("capabilities", {}), TEXT_BYTES, "Flavor capabilities")
        return list(document["pool_list"]), document.get("capabilities")

    def share(
        self, document: Any, queue_path: str, now: datetime
    ) -> tuple[list[str], list[str], str]:
        """``(paths, methods, expires)`` of a share body, sorted and checked."""
        document = {} if document is None else document
        _check(self._share, document)
        paths = sorted(f"{queue_path}/{p}" for p in document.get("paths", ["messages"]))
        methods = sorted(document.get("methods", ["GET"]))
        expires = now + timedelta(days=1)
        if "expires" in document:
            try:
                expires = signing.parse_expires(document["expires"])
            except ValueError as ex:
                raise InvalidBody(
                    "expires must be an ISO-8601 date and time within years 1 to 9999 (UTC)."
                ) from ex
        if expires <= now:
            raise InvalidBody("The expiration date must be in the future.")
        return paths, methods, signing.format_expires(expires)


def fits(document: Any, limit: int, what: str) -> None:
    """Refuse a document longer than ``limit`` bytes once stored (re-encoded)."""
    try:
        encode_within(document, limit, what)
    except TooLarge as ex:
        raise InvalidBody(str(ex)) from ex


def _plain_int_in(item: dict[str, Any], key: str, bounds: tuple[int, int]) -> bool:
    """The key is absent, or a plain int (not bool, not float) within ``bounds``."""
    if key not in item:
        return True
    value = item[key]
    return type(value) is int and bounds[0] <= value <= bounds[1]


def _check(validator: Any, document: Any) -> None:
    error = best_match(validator.iter_errors(document))
    if error is None:
        return
    where = "/".join(str(part) for part in error.absolute_path) or "body"
    message = error.message
    if len(message) > _MESSAGE_MAX:
        message = message[:_MESSAGE_MAX] + "..."
    raise InvalidBody(f"{where}: {message}")


def _metadata_key(path: str) -> str:
    parts = path.split("/")
    if len(parts) != 3 or parts[0] or parts[1] != "metadata" or not parts[2]:
        raise InvalidBody(f"Invalid JSON pointer for this resource: '{path[:100]}'")
    return parts[2].replace("~1", "/").replace("~0", "~")


def _subscriber(value: str) -> str:
    if not _NO_SPACE.fullmatch(value):
        raise InvalidBody("The subscriber may not contain spaces or control characters.")
    try:
        parts = urlsplit(value)
    except ValueError as ex:
        raise InvalidBody("The subscriber must be a URI.") from ex
    if parts.scheme.lower() not in SUBSCRIBER_TYPES:
        raise InvalidBody(f"The subscriber type must be one of {', '.join(SUBSCRIBER_TYPES)}.")
    if parts.scheme.lower() == "mailto":
        if "@" not in parts.path:
            raise InvalidBody("A mailto subscriber needs an email address.")
    elif not parts.netloc:
        raise InvalidBody("An http(s) subscriber needs a host.")
    return value
