"""A queue's policy: the reserved ``_`` keys of its metadata, parsed once.

Zaqar keeps a queue's behaviour in reserved metadata keys (api-v2.md 1.4):
message TTL and delay defaults, the post size cap, dead-lettering, the
notification retry policy, the flavor (pool group) and encryption. They are
named here and nowhere else; storage and transport read a ``QueuePolicy``
instead of looking keys up by string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_MESSAGE_TTL = "_default_message_ttl"
DEFAULT_MESSAGE_DELAY = "_default_message_delay"
MAX_MESSAGES_POST_SIZE = "_max_messages_post_size"
DEAD_LETTER_QUEUE = "_dead_letter_queue"
DEAD_LETTER_QUEUE_MESSAGES_TTL = "_dead_letter_queue_messages_ttl"
MAX_CLAIM_COUNT = "_max_claim_count"
ENABLE_ENCRYPT_MESSAGES = "_enable_encrypt_messages"
RETRY_POLICY = "_retry_policy"
FLAVOR = "_flavor"
BLOB_THRESHOLD = "_blob_threshold"

BLOB_MIN_THRESHOLD = 1024
"""The smallest ``_blob_threshold`` (bytes): posts whose bodies are all
smaller never look at it, so they cost nothing extra (docs/scaling.md)."""


def _int(meta: Mapping[str, Any], key: str) -> int | None:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _str(meta: Mapping[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class QueuePolicy:
    """What a queue's reserved metadata asks for; ``None`` means "not set".

    Values are taken as stored (the transport validated them on the way in);
    a key of the wrong type reads as unset rather than failing a read path.
    """

    default_message_ttl: int | None = None
    """Seconds; the service default applies when unset (or 0)."""
    default_message_delay: int = 0
    """Seconds new messages stay invisible when the post gives no delay."""
    max_messages_post_size: int | None = None
    """Bytes of one post request, below the service limit."""
    dead_letter_queue: str | None = None
    """Where a message goes once claimed ``max_claim_count`` times."""
    dead_letter_queue_messages_ttl: int | None = None
    """Seconds a dead-lettered message lives (default: its remaining TTL)."""
    max_claim_count: int | None = None
    """Claims a message may take before it is dead-lettered (with a DLQ)."""
    encrypt_messages: bool = False
    """Bodies posted from now on are stored encrypted (domain/crypto.py); only
    ``true`` itself turns it on."""
    retry_policy: Mapping[str, Any] = field(default_factory=dict)
    """Notification retry policy (notifications.md), unparsed."""
    flavor: str | None = None
    """The flavor (group of pools) the queue is placed in."""
    blob_threshold: int | None = None
    """Bodies of more bytes (their JSON) go to the blob store (docs/scaling.md)."""

    @classmethod
    def of(cls, metadata: Mapping[str, Any] | None) -> QueuePolicy:
        """The policy of a queue with ``metadata`` (``None``: no metadata)."""
        if not metadata:
            return NO_POLICY  # PERF: most queues have no metadata (every post reads it)
        meta = metadata
        retry = meta.get(RETRY_POLICY)
        return cls(
            default_message_ttl=_int(meta, DEFAULT_MESSAGE_TTL) or None,
            default_message_delay=_int(meta, DEFAULT_MESSAGE_DELAY) or 0,
            max_messages_post_size=_int(meta, MAX_MESSAGES_POST_SIZE),
            dead_letter_queue=_str(meta, DEAD_LETTER_QUEUE),
            dead_letter_queue_messages_ttl=_int(meta, DEAD_LETTER_QUEUE_MESSAGES_TTL),
            max_claim_count=_int(meta, MAX_CLAIM_COUNT),
            encrypt_messages=meta.get(ENABLE_ENCRYPT_MESSAGES) is True,
            retry_policy=dict(retry) if isinstance(retry, Mapping) else {},
            flavor=_str(meta, FLAVOR),
            blob_threshold=_int(meta, BLOB_THRESHOLD),
        )

    def dead_letters_to(self, queue: str) -> str | None:
        """The dead-letter queue of ``queue``, if dead-lettering is on (never itself)."""
        if self.dead_letter_queue in (None, queue) or not self.max_claim_count:
            return None
        return self.dead_letter_queue


NO_POLICY = QueuePolicy(retry_policy=MappingProxyType({}))
"""The policy of a queue without metadata: every default."""
