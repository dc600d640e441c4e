"""Message bodies between their stored text and what readers see.

Storage keeps each body as text: its JSON (``documents.encode``) or, in a
queue that encrypts its messages, that JSON sealed (``crypto``). A
``BodyCodec`` is the one place that turns a posted batch into stored texts
and a stored text back into the body, with Zaqar's ``checksum`` when the
service is configured to show it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlqueue.domain.crypto import SEALED, Keyring, is_sealed
from sqlqueue.domain.documents import DOCUMENT_BYTES, TooLarge

BLOB = "&blob:"
"""How a stored text that points to a body in the blob store begins: ``&`` is
neither the first character of a JSON text nor the sealed mark ``!``."""
_MARKED = (BLOB, SEALED)
"""How stored texts that are not plain JSON begin (a plain JSON text never does)."""


_decode = json.JSONDecoder().decode
"""``json.loads`` of a ``str`` (PERF: without its type and BOM checks, half its
instructions for a short body: a stored text is always ``str``, never with a BOM)."""


@dataclass(frozen=True)
class BlobRef:
    """A body kept in the blob store under ``key``, until it is fetched (storage/blobs.py)."""

    key: str


def is_blob(stored: str) -> bool:
    """Whether a stored body text is a pointer to the blob store."""
    return stored.startswith(BLOB)


def blob_pointer(key: str) -> str:
    """The stored text that points to the blob ``key``."""
    return BLOB + key


def checksum(body: Any) -> str:
    """Zaqar's message checksum: ``"MD5:<hex>"`` of the body's JSON.

    The JSON is Python's ``json.dumps`` with its defaults (``", "`` and
    ``": "`` separators, ASCII escapes, keys in the body's order) in UTF-8,
    as Zaqar hashes it (``oslo_serialization.jsonutils.dump_as_bytes``); the
    api-ref sample ``{"event": "BackupStarted"}`` gives
    ``MD5:82eb2714b7c0237d373947c046cac78d``. MD5 is what Zaqar offers; it
    detects accidents, not tampering.
    """
    digest = hashlib.md5(json.dumps(body).encode("utf-8"), usedforsecurity=False)
    return f"MD5:{digest.hexdigest()}"


@dataclass(frozen=True)
class BodyCodec:
    """How a service stores and shows message bodies.

    ``keyring``: the encryption keys (empty: queues cannot ask for encryption).
    ``checksums``: readers get Zaqar's ``checksum`` of every body.
    """

    keyring: Keyring = field(default_factory=Keyring)
    checksums: bool = False

    @property
    def can_encrypt(self) -> bool:
        """Whether a key is configured to seal bodies with."""
        return self.keyring.active is not None

    def store(self, texts: Sequence[str], *, encrypt: bool) -> Sequence[str]:
        """The stored texts of a batch's JSON ``texts`` (sealed when ``encrypt``).

        :raises errors.BodyCipherFailed: ``encrypt`` and no key is configured.
        :raises errors.ValidationFailed: a sealed body exceeds what its column holds.
        """
        if not encrypt:
            return texts
        sealed = [text if is_blob(text) else self.keyring.seal(text) for text in texts]
        for text in sealed:
            if len(text) > DOCUMENT_BYTES:  # ASCII: characters are bytes
                raise TooLarge("A message body, once encrypted,", len(text), DOCUMENT_BYTES)
        return sealed

    def load(self, stored: str) -> Any:
        """The body a stored text holds (a ``BlobRef`` for a pointer to the blob store).

        :raises errors.BodyCipherFailed: it cannot be opened.
        """
        if stored.startswith(_MARKED):  # PERF: plain JSON (the usual body) in one test
            if is_blob(stored):
                return BlobRef(stored[len(BLOB) :])
            if is_sealed(stored):
                stored = self.keyring.open(stored)
        return _decode(stored)

    def checksum(self, body: Any) -> str | None:
        """The ``checksum`` readers see for ``body`` (None when not configured)."""
        return checksum(body) if self.checksums and not isinstance(body, BlobRef) else None


PLAIN = BodyCodec()
"""No encryption keys, no checksums."""
