"""Posting big bodies to the blob store before their rows (storage/blobs.py).

A post whose bodies all stay under ``BLOB_MIN_THRESHOLD`` bytes, or on a
service without a blob store, costs nothing here. Otherwise the queue's
``_blob_threshold`` is read (one short read of the queue row, outside the
posting transaction, kept for ``POLICY_SECONDS`` by the process), the
bodies above it are written to the blob store and committed there, and the
post stores pointers in their place: the pool's transaction never waits on
the blob store.

When the service has an encryption key, blob bodies are always sealed, the
queue's ``_enable_encrypt_messages`` or not: the flag may be turned on
between this read and the post, and the blob store must never hold a
plaintext body of an encrypting queue.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlqueue.domain.bodies import blob_pointer
from sqlqueue.domain.models import NewMessage
from sqlqueue.domain.policy import BLOB_MIN_THRESHOLD, QueuePolicy
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.blobs import Blob, new_key
from sqlqueue.storage.sql.database import Database, loads
from sqlqueue.storage.sql.queues import find_queue

POLICY_SECONDS = 5.0
"""How long a process keeps a queue's threshold (``catalogue_cache_seconds``' default)."""
POLICY_CACHE = 10_000
"""Queues whose thresholds a process keeps at most (then it forgets them all)."""


class BlobRouter:
    """Chooses and writes the blob bodies of a post."""

    def __init__(self, db: Database, options: StorageOptions) -> None:
        self._db = db
        self._options = options
        self._policies: dict[tuple[str, str], tuple[float, QueuePolicy]] = {}

    def route(
        self,
        project: str,
        queue: str,
        batch: Sequence[NewMessage],
        texts: Sequence[str],
        now: int,
    ) -> tuple[Sequence[str], list[str]]:
        """The stored texts of a post (pointers for blob bodies) and the blob keys written.

        :raises StorageUnavailable: the blob store failed (nothing is posted).
        """
        blobs = self._options.blobs
        if blobs is None or not any(_may_route(text) for text in texts):
            return texts, []
        policy = self._policy(project, queue)
        threshold = policy.blob_threshold
        if threshold is None:
            return texts, []
        chosen = [i for i, text in enumerate(texts) if len(text.encode()) > threshold]
        if not chosen:
            return texts, []
        ttl = policy.default_message_ttl or self._options.default_message_ttl
        out = list(texts)
        written = []
        for index in chosen:
            key = new_key()
            written.append(
                Blob(key, project, queue, self._sealed(texts[index]), now + _ttl(batch[index], ttl))
            )
            out[index] = blob_pointer(key)
        blobs.put(written)
        return out, [blob.key for blob in written]

    def _policy(self, project: str, queue: str) -> QueuePolicy:
        """The queue's policy, read at most every ``POLICY_SECONDS`` per process.

        A stale threshold only places a body inline or in the store for a few
        seconds more: readers open both, and sealing does not depend on it.
        """
        now = time.monotonic()
        cached = self._policies.get((project, queue))
        if cached is not None and now - cached[0] < POLICY_SECONDS:
            return cached[1]
        row = self._db.run(lambda conn: find_queue(conn, project, queue), write=False)
        policy = QueuePolicy.of(None if row is None else loads(row.meta))
        if len(self._policies) >= POLICY_CACHE:
            self._policies.clear()
        self._policies[(project, queue)] = (now, policy)
        return policy

    def _sealed(self, text: str) -> str:
        codec = self._options.bodies
        return codec.keyring.seal(text) if codec.can_encrypt else text


def _may_route(text: str) -> bool:
    """Whether ``text`` has at least ``BLOB_MIN_THRESHOLD`` bytes of UTF-8.

    PERF: a character is 1 to 4 bytes, so most texts are decided by their length.
    """
    if len(text) < BLOB_MIN_THRESHOLD // 4:
        return False
    return len(text) >= BLOB_MIN_THRESHOLD or len(text.encode()) >= BLOB_MIN_THRESHOLD


def _ttl(message: NewMessage, default: int) -> int:
    """Milliseconds the message lives (its ``ttl`` or the queue's default)."""
    return (message.ttl if message.ttl is not None else default) * 1000
