"""Reading request bodies: size-checked, strict JSON.

A body with a Content-Length is read only after its declared size passed
the limit, so an oversized request costs nothing. A body without one
(``Transfer-Encoding: chunked``) is read when the server says its input
ends where the body ends (``wsgi.input_terminated``, set by gunicorn,
granian, waitress...), at most one byte past the limit; on a server that
cannot say so, such a request is refused with 411, never taken as empty.

The JSON accepted is what every database and every client can store and
read back: no NaN or infinities, integers in signed 64 bits, no lone
surrogates, and nesting at most ``MAX_DEPTH`` deep.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import falcon

from sqlqueue.transport.wsgi.errors import InvalidBody

MAX_DEPTH = 64
_INT64 = 2**63
# A string, closed or not: it always matches at a quote and never
# backtracks, so removing strings is one linear pass (an unterminated string
# runs to the end instead of being retried from every quote inside it).
_STRINGS = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")

EMPTY = "Request body can not be empty"


_READ_CHUNK = 65536


def read_raw(req: falcon.Request, limit: int, what: str = "Request body") -> bytes:
    """The body's bytes, at most ``limit`` of them.

    :raises InvalidBody: the body is larger than ``limit`` (400).
    :raises falcon.HTTPLengthRequired: a body of unknown length on a server
        that does not mark where it ends (411).
    """
    length = req.content_length
    if length is not None:
        if length > limit:
            raise _too_large(what, limit)
        return req.bounded_stream.read(length) if length else b""
    if req.env.get("wsgi.input_terminated"):
        return _read_until_end(req.stream, limit, what)
    if req.get_header("Transfer-Encoding"):
        raise falcon.HTTPLengthRequired(
            title="Length required",
            description="Send a Content-Length: this server cannot read a chunked body.",
        )
    return b""


def _read_until_end(stream: Any, limit: int, what: str) -> bytes:
    """Read a terminated stream to its end, refusing it past ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        part = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if size > limit:
            raise _too_large(what, limit)


def _too_large(what: str, limit: int) -> InvalidBody:
    return InvalidBody(f"{what} is too large. Max size: {limit}")


def read_json(
    req: falcon.Request, limit: int, *, required: bool = True, what: str = "Request body"
) -> Any:
    """The decoded JSON body (None when empty and not required)."""
    return decode(read_raw(req, limit, what), required=required)


def decode(raw: bytes, *, required: bool = True) -> Any:
    """Decode body bytes read by ``read_raw`` (None when blank and not required)."""
    if not raw.strip():
        if required:
            raise InvalidBody(EMPTY)
        return None
    return parse(raw)


def parse(raw: bytes) -> Any:
    """Decode a JSON document (object or array at the top) strictly."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as ex:
        raise InvalidBody("Request body is not valid UTF-8.") from ex
    _check_depth(text)
    try:
        document = _DECODER.decode(text)
    except _TooLarge as ex:
        raise InvalidBody("JSON contains integer that is too large.") from ex
    except (ValueError, RecursionError) as ex:
        raise InvalidBody("Request body could not be parsed.") from ex
    if not isinstance(document, dict | list):
        raise InvalidBody("Request body must be a JSON object or array.")
    if _SURROGATE.search(text):
        _check_encodable(document)
    return document


class _TooLarge(Exception):
    """An integer outside signed 64 bits."""


def _int(text: str) -> int:
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise _TooLarge(text)
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text}")
    return value


def _constant(text: str) -> Any:
    raise ValueError(f"not JSON: {text}")


_DECODER = json.JSONDecoder(parse_int=_int, parse_float=_float, parse_constant=_constant)
"""PERF: ``json.loads`` with hooks builds a new decoder (and scanner) per call:
half the instructions of decoding a one-message post. Threads may share it:
its scanner keeps nothing between calls but a cache of interned keys."""


def _check_depth(text: str) -> None:
    """Refuse documents nested deeper than MAX_DEPTH.

    Linear in the text: one pass removes strings, one keeps brackets, then at
    most MAX_DEPTH passes remove innermost pairs.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    for _ in range(MAX_DEPTH):
        brackets, found = _INNERMOST.subn("", brackets)
        if not found:
            return
    if brackets:
        raise InvalidBody(f"JSON is nested too deeply (max {MAX_DEPTH} levels).")


def _check_encodable(document: Any) -> None:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as ex:
        raise InvalidBody("JSON contains an invalid unicode escape.") from ex
