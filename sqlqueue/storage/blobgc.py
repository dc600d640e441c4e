"""Collecting the blob store: bodies of expired messages, and orphans after a crash.

A blob records its queue and its message's expiry. Once that expiry and
``blob_grace`` have passed, the queue's pool (found through the store, so a
moved queue is followed) is asked whether a live message or a pending
notification still points to the blob (a claim may have extended the
message; a notification may still be due): if so the blob's expiry is
pushed to when it is needed until, else the blob is deleted. So a blob
outlives its message by at most ``blob_grace`` plus the gc interval, and an
orphan (a post that crashed after writing its blob, a delete that crashed
before deleting it) by at most its message's TTL as well.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlqueue import errors
from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.storage.base import QueueStore
from sqlqueue.storage.blobs import BlobOwner, BlobStore

logger = logging.getLogger(__name__)

BATCH = 500
"""Blobs looked at per round (one question to a pool per queue)."""


def collect(
    store: QueueStore,
    blobs: BlobStore,
    grace: float,
    *,
    clock: Clock = system_clock,
    batch: int = BATCH,
) -> int:
    """Delete blobs no message needs any more; how many were deleted.

    Stops at the first round with trouble (logged): the rest waits for the next gc.
    """
    removed = 0
    grace_ms = int(grace * 1000)
    while True:
        now = int(clock() * 1000)
        try:
            found = blobs.expired(now - grace_ms, batch)
            gone = _round(store, blobs, found, now + grace_ms)
        except errors.StorageUnavailable as ex:
            logger.warning("blob gc stopped: %s", ex)
            return removed
        removed += gone
        if len(found) < batch:
            return removed


def _round(store: QueueStore, blobs: BlobStore, found: list[BlobOwner], floor: int) -> int:
    """Check ``found`` queue by queue; delete what is not needed, push the rest past ``floor``."""
    by_queue: dict[tuple[str, str], list[str]] = defaultdict(list)
    for owner in found:
        by_queue[(owner.project, owner.queue)].append(owner.key)
    unused: list[str] = []
    needed: dict[str, int] = {}
    for (project, queue), keys in by_queue.items():
        refs = store.at(project, queue).messages.blob_refs(project, queue, keys)
        unused += [key for key in keys if key not in refs]
        needed.update({key: max(until, floor) for key, until in refs.items()})
    if needed:
        blobs.extend(needed)
    blobs.delete(unused)
    return len(unused)
