"""Stored JSON documents: one encoding, and the most bytes a document may take.

Every JSON document sqlqueue stores (queue metadata, message bodies,
subscription options, pool options, flavor capabilities) is stored as the
text ``encode`` gives: compact, UTF-8, non-ASCII kept. That text can be
much longer than what a client sent (``1e9`` is stored as ``1000000000.0``),
so a document is measured after encoding, against what its column holds on
every database sqlqueue supports (the smallest, MySQL's, wins).
"""

from __future__ import annotations

import json
from typing import Any

from sqlqueue import errors

TEXT_BYTES = 65_535
"""What a TEXT column holds on MySQL: subscription options, pool options and
flavor capabilities."""

DOCUMENT_BYTES = 16_777_215
"""What a MEDIUMTEXT column holds on MySQL: message bodies and queue metadata."""

_UTF8_MAX = 4  # bytes per character
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""PERF: ``json.dumps`` with any argument builds a new encoder per call; this one
is built once (about a third of the instructions of encoding a message body)."""


def encode(document: Any) -> str:
    """The text a document is stored as (``json.dumps(document, ensure_ascii=False,
    separators=(",", ":"))``)."""
    return _COMPACT.encode(document)


def stored_size(document: Any) -> int:
    """Bytes the document takes once stored."""
    return len(encode(document).encode("utf-8"))


def encode_within(document: Any, limit: int, what: str) -> str:
    """The stored text of ``document``, at most ``limit`` bytes of UTF-8.

    :raises errors.ValidationFailed: it would take more (never truncated).
    """
    text = encode(document)
    if len(text) * _UTF8_MAX > limit:  # PERF: most documents are surely short enough
        size = len(text.encode("utf-8"))
        if size > limit:
            raise TooLarge(what, size, limit)
    return text


class TooLarge(errors.ValidationFailed):
    """A document longer, once stored, than its limit."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is too large once stored: {size} bytes. Max size: {limit} bytes.")
        self.what = what
        self.size = size
        self.limit = limit
