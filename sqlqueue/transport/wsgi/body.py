"""Reading request bodies: by Content-Length, size-checked, strict JSON.

A body is read only after its declared size passed the limit, so an
oversized request costs nothing. The JSON accepted is what every database
and every client can store and read back: no NaN or infinities, integers in
signed 64 bits, no lone surrogates, and nesting at most ``MAX_DEPTH`` deep.
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
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")

EMPTY = "Request body can not be empty"


def declared_length(req: falcon.Request) -> int:
    """The Content-Length of the request (0 when absent)."""
    return req.content_length or 0


def check_size(req: falcon.Request, limit: int, what: str = "Request body") -> None:
    """Refuse a body larger than ``limit`` bytes, from its Content-Length alone."""
    if declared_length(req) > limit:
        raise InvalidBody(f"{what} is too large. Max size: {limit}")


def read_json(req: falcon.Request, limit: int, *, required: bool = True) -> Any:
    """The decoded JSON body (None when empty and not required)."""
    check_size(req, limit)
    length = declared_length(req)
    raw = req.bounded_stream.read(length) if length else b""
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
        document = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
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


def _check_depth(text: str) -> None:
    """Refuse documents nested deeper than MAX_DEPTH (cheap regex passes)."""
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
