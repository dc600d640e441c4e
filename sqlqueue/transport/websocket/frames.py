"""Zaqar's websocket frames: decoding requests, encoding replies and pushes.

A request is one text frame holding a JSON object, or one binary frame
holding a MessagePack map::

    {"action": "message_post", "headers": {"Client-ID": ..., "X-Project-ID": ...},
     "body": {"queue_name": "q", "messages": [...]}}

A reply echoes the request and carries the status in ``headers.status``::

    {"request": {"action", "body", "headers", "api": "v2"},
     "body": {...} or "a string", "headers": {"status": 201}}

Replies are encoded like the request that caused them; pushed notifications
are bare documents (no ``request``/``headers``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgpack

from sqlqueue.transport.wsgi import body as http_body
from sqlqueue.transport.wsgi.errors import InvalidBody

API = "v2"
Document = dict[str, Any]
Frame = str | bytes
"""A websocket frame: ``str`` is a text frame, ``bytes`` a binary one."""


class FrameError(InvalidBody):
    """A frame that is not a request: undecodable, or not a JSON object."""


@dataclass
class Request:
    """A decoded request frame; ``binary`` when it came as MessagePack."""

    action: str | None
    headers: Document = field(default_factory=dict)
    body: Any = field(default_factory=dict)
    binary: bool = False

    def echo(self) -> Document:
        """The ``request`` part of the reply (the request as sent, ``body`` default ``{}``)."""
        return {"action": self.action, "body": self.body, "headers": self.headers, "api": API}

    def header(self, name: str) -> Any:
        """A header by name, ignoring case (None when absent)."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if isinstance(key, str) and key.lower() == lowered:
                return value
        return None


@dataclass(frozen=True)
class Reply:
    """A status and a body (an object, or a string as several Zaqar actions answer)."""

    status: int
    body: Any = field(default_factory=dict)


def decode(frame: Frame) -> Request:
    """The request in a frame.

    The JSON accepted is the HTTP API's (``transport/wsgi/body.parse``): no
    NaN, integers in 64 bits, bounded nesting; MessagePack is held to the
    same rules by re-reading it as JSON.

    :raises FrameError: undecodable, or not an object.
    """
    binary = isinstance(frame, bytes)
    document = _decode_binary(frame) if isinstance(frame, bytes) else _decode_text(frame)
    if not isinstance(document, dict):
        raise FrameError("Unexpected body type. Expected dict or dict like.")
    action = document.get("action")
    headers = document.get("headers")
    found = Request(
        action=action if isinstance(action, str) else None,
        headers=headers if isinstance(headers, dict) else {},
        body=document.get("body", {}),
        binary=binary,
    )
    if not isinstance(action, str):
        raise _Undispatchable(found, "Schema validation failed: action must be a string.")
    if headers is not None and not isinstance(headers, dict):
        raise _Undispatchable(found, "Schema validation failed: headers must be an object.")
    return found


class _Undispatchable(FrameError):
    """A decoded object that cannot name an action; carries what was decoded."""

    def __init__(self, request: Request, description: str) -> None:
        super().__init__(description)
        self.request = request


def request_of(ex: FrameError, frame: Frame) -> Request:
    """What to echo for a frame that could not be dispatched."""
    if isinstance(ex, _Undispatchable):
        return ex.request
    return Request(action=None, binary=isinstance(frame, bytes))


def _decode_text(frame: str) -> Any:
    try:
        return http_body.parse(frame.encode("utf-8", "surrogatepass"))
    except InvalidBody as ex:
        raise FrameError(f"Can't decode text (JSON) request: {ex}") from ex


def _decode_binary(frame: bytes) -> Any:
    try:
        document = msgpack.unpackb(frame, raw=False, strict_map_key=True)
        text = json.dumps(document, ensure_ascii=False, allow_nan=False)
        return http_body.parse(text.encode("utf-8"))
    except InvalidBody as ex:
        raise FrameError(f"Can't decode binary (MessagePack) request: {ex}") from ex
    except (ValueError, TypeError, RecursionError, msgpack.ExtraData) as ex:
        reason = type(ex).__name__
        raise FrameError(f"Can't decode binary (MessagePack) request: {reason}.") from ex


def reply_document(request: Request, reply: Reply) -> Document:
    """The reply envelope."""
    return {"request": request.echo(), "body": reply.body, "headers": {"status": reply.status}}


def encode(document: Any, binary: bool) -> Frame:
    """A document as a text (JSON) or binary (MessagePack) frame."""
    if binary:
        packed: bytes = msgpack.packb(document, use_bin_type=True)
        return packed
    return json.dumps(document, ensure_ascii=False)


def frame_size(frame: Frame) -> int:
    """The payload size of a frame in bytes (a text frame is UTF-8 on the wire)."""
    return len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))


def notification(queue: str, ttl: int, message_body: Any) -> Document:
    """The document pushed to a socket subscriber (Zaqar's webhook payload)."""
    return {"ttl": ttl, "body": message_body, "Message_Type": "Notification", "queue_name": queue}
