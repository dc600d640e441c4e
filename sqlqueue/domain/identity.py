"""Who asks and about which queue: the header and name rules of every transport.

Zaqar checks ``Client-ID`` and ``X-Project-Id`` before any resource runs
(zaqar/transport/wsgi/helpers.py and validation.py); the websocket API
carries the same headers in each request frame. The rules live here once
and each transport turns the ``errors.ValidationFailed`` they raise into
its own error shape (the exception's ``title`` included).
"""

from __future__ import annotations

import re
import uuid

from sqlqueue import errors
from sqlqueue.domain.limits import Limits

QUEUE_NAME = re.compile(r"[a-zA-Z0-9_\-.]+")
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A UUID as ``str(uuid.UUID(...))`` writes it: lowercase hex, 8-4-4-4-12."""
CLIENT_ID_COLUMN = 64
"""Characters the storage keeps of a Client-ID (the column's width)."""
BAD_QUEUE = "Invalid queue identification"
BAD_NAME = "The format of the submitted queue name or project id is not valid."


def valid_queue_name(name: str, limits: Limits) -> bool:
    """Whether ``name`` is a valid queue name (Zaqar: ``[a-zA-Z0-9_-.]``, bounded length)."""
    return len(name) <= limits.max_queue_name_length and bool(QUEUE_NAME.fullmatch(name))


def check_queue_name(name: str, limits: Limits) -> str:
    """``name`` when valid; raises ``ValidationFailed`` ("Invalid queue identification")."""
    if not valid_queue_name(name, limits):
        raise errors.ValidationFailed(BAD_NAME, title=BAD_QUEUE)
    return name


BAD_TOPIC = "Invalid topic identification"
BAD_TOPIC_NAME = "The format of the submitted topic name or project id is not valid."


def check_topic_name(name: str, limits: Limits) -> str:
    """``name`` when valid; raises ``ValidationFailed`` ("Invalid topic identification").

    Topic names follow the queue-name rules (Zaqar 23's topic hook, docs/topics.md).
    """
    if not valid_queue_name(name, limits):
        raise errors.ValidationFailed(BAD_TOPIC_NAME, title=BAD_TOPIC)
    return name


def check_client_id(value: str, limits: Limits) -> str:
    """The client id as stored: a canonical UUID in ``strict`` mode, else the value.

    Raises ``ValidationFailed`` titled "Invalid Client-ID" for a malformed UUID
    (strict) or a length outside ``min_length_client_id`` to
    ``max_length_client_id`` (capped by the column, 64) characters.
    """
    if limits.client_id_uuid_safe != "strict":  # "off" (or Zaqar's "lax")
        upper = min(limits.max_length_client_id, CLIENT_ID_COLUMN)
        if not limits.min_length_client_id <= len(value) <= upper:
            raise errors.ValidationFailed(
                f"Client-ID must have {limits.min_length_client_id} to {upper} characters.",
                title="Invalid Client-ID",
            )
        return value
    if CANONICAL_UUID.fullmatch(value):  # PERF: already canonical, as most clients send it
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError as ex:
        raise errors.ValidationFailed(
            "Malformed hexadecimal UUID.", title="Invalid Client-ID"
        ) from ex


def check_project_id(value: str | None, limits: Limits) -> str:
    """The project id; raises ``ValidationFailed`` when missing, empty or too long."""
    if value is None:
        raise errors.ValidationFailed("Project-Id Missing", title="Missing header")
    if not value:
        raise errors.ValidationFailed("Empty project header not allowed", title="Invalid header")
    if len(value) > limits.max_project_id_length:
        raise errors.ValidationFailed(BAD_NAME, title=BAD_QUEUE)
    return value
