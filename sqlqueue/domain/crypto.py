"""Message bodies encrypted at rest: AES-256-GCM under configured, rotatable keys.

A queue whose metadata has ``_enable_encrypt_messages: true`` stores each
posted body as a *sealed* text instead of its JSON (api-v2.md 1.4)::

    !aes256gcm:<key id>:<base64 of salt (16 bytes) | nonce (12) | ciphertext | tag (16)>

* The ``!`` can never start a JSON text, so every stored body says by itself
  whether it is sealed and with which key: reading needs no queue flag, and
  turning the flag on or off never makes a stored body unreadable.
* Each body is encrypted under its own key, derived from the configured key
  with HKDF-SHA256 (RFC 5869) and a random 16-byte salt. AES-GCM with random
  96-bit nonces under one key is limited to about 2**32 messages (NIST SP
  800-38D, 8.3); per-message keys lift that limit, for about 10 us per body.
* The header (format and key id) is authenticated as associated data: a key
  id cannot be swapped, and a body altered in the database is refused rather
  than read as garbage.

Keys come from configuration as ``id:base64key`` strings (32 random bytes
each, ``openssl rand -base64 32``). The first key seals new bodies; every key
is tried, by id, to open stored ones, so a key is rotated by putting a new one
first and dropping the old one once no body sealed with it is left.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sqlqueue import errors

SEALED = "!"
"""The first character of every sealed body (never the first of a JSON text)."""
SCHEME = "aes256gcm"
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_INFO = b"sqlqueue message body"
_PREFIX = f"{SEALED}{SCHEME}:"


def _derive(key: bytes, salt: bytes) -> AESGCM:
    """The cipher of one body: HKDF-SHA256 of the configured key with its salt."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=_INFO)
    return AESGCM(hkdf.derive(key))


def _parse_one(index: int, spec: str) -> tuple[str, bytes]:
    """``(id, key)`` of one ``id:base64key`` entry; never echoes the key.

    :raises errors.BadEncryptionKeys:
    """
    key_id, colon, encoded = spec.strip().partition(":")
    where = f"encryption_keys entry {index}"
    if not colon or not _KEY_ID.fullmatch(key_id):
        raise errors.BadEncryptionKeys(
            f"{where} is not ID:BASE64KEY with an ID of 1 to 32 letters, digits, '_', '-' or '.'"
        )
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != KEY_BYTES:
        raise errors.BadEncryptionKeys(
            f"{where} ({key_id}): the key must be {KEY_BYTES} bytes in base64 "
            "(make one with: openssl rand -base64 32)"
        )
    return key_id, key


@dataclass(frozen=True)
class Keyring:
    """The configured encryption keys, newest first; empty: no encryption."""

    keys: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    """``(id, 32-byte key)`` pairs; the first seals."""
    _by_id: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", dict(self.keys))

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Keyring:
        """The keyring of ``id:base64key`` strings (blank ones skipped).

        :raises errors.BadEncryptionKeys: an entry is malformed or an id repeats.
        """
        keys = [_parse_one(n, spec) for n, spec in enumerate(specs, 1) if spec.strip()]
        ids = [key_id for key_id, _ in keys]
        repeated = sorted({key_id for key_id in ids if ids.count(key_id) > 1})
        if repeated:
            raise errors.BadEncryptionKeys(f"encryption_keys repeat the id {repeated[0]}")
        return cls(tuple(keys))

    @property
    def active(self) -> str | None:
        """The id of the key new bodies are sealed with (None: no key)."""
        return self.keys[0][0] if self.keys else None

    def seal(self, text: str) -> str:
        """The sealed form of a body's JSON ``text`` (ASCII).

        :raises errors.BodyCipherFailed: no key is configured.
        """
        if not self.keys:
            raise errors.BodyCipherFailed(
                "This queue encrypts its messages (_enable_encrypt_messages), but no "
                "encryption key is configured (encryption_keys): nothing was stored."
            )
        key_id, key = self.keys[0]
        header = f"{_PREFIX}{key_id}:"
        salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
        sealed = _derive(key, salt).encrypt(nonce, text.encode("utf-8"), header.encode())
        return header + base64.b64encode(salt + nonce + sealed).decode("ascii")

    def open(self, stored: str) -> str:
        """The JSON text of a sealed body.

        :raises errors.BodyCipherFailed: its key is not configured, the
            configured key of that id is another one, or the row was altered.
        """
        if not stored.startswith(_PREFIX):
            raise errors.BodyCipherFailed("A stored message body is in an unknown sealed format.")
        key_id, _, payload = stored[len(_PREFIX) :].partition(":")
        key = self._by_id.get(key_id)
        if key is None:
            raise errors.BodyCipherFailed(
                f"Messages of this queue are encrypted with key '{key_id}', which is not "
                "configured (encryption_keys): they cannot be read until it is."
            )
        header = stored[: len(_PREFIX) + len(key_id) + 1].encode()
        try:
            raw = base64.b64decode(payload, validate=True)
            salt, nonce = raw[:SALT_BYTES], raw[SALT_BYTES : SALT_BYTES + NONCE_BYTES]
            plain = _derive(key, salt).decrypt(nonce, raw[SALT_BYTES + NONCE_BYTES :], header)
        except (binascii.Error, InvalidTag, ValueError) as ex:
            raise errors.BodyCipherFailed(
                f"A message body of this queue does not decrypt with the configured key "
                f"'{key_id}': the key is not the one it was encrypted with, or the stored "
                "row was altered."
            ) from ex
        return plain.decode("utf-8")


def is_sealed(stored: str) -> bool:
    """Whether a stored body text is sealed (else it is plain JSON)."""
    return stored.startswith(SEALED)
