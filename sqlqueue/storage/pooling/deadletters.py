"""Dead-lettering into a queue of another pool.

A claim moves messages claimed ``_max_claim_count`` times to the queue's
``_dead_letter_queue`` in one transaction when both queues are in one
database (exactly once). They can be apart: either queue moved, a drain or a
new ``_flavor`` took one away, or the dead-letter queue was placed by weight
before its source named it. The pool's database then raises
``DeadLetterQueueAway`` and rolls the claim back; the pooled store moves the
spent messages across here and claims again:

1. hold them in the source (a claim of ``LEASE_SECONDS``, claim counts
   unchanged), 2. post them to the dead-letter queue through the pooled
   store (following it if it moved), 3. delete them from the source under
   that claim.

A body that was stored encrypted is stored encrypted in the dead-letter
queue too, whatever its policy (as within one pool, where the row moves).

At least once: a process that dies between 2 and 3 leaves them in the
source; the lease runs out, the next claim finds them spent again and posts
them again. Across pools a dead letter gets a new id and marker (as any
post) and, without ``_dead_letter_queue_messages_ttl``, its full ttl again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import DataDriver

if TYPE_CHECKING:
    from sqlqueue.storage.pooling.routing import Router

LEASE_SECONDS = 60
"""How long spent messages are held while they are posted across."""
BATCH = 100
"""Spent messages moved per round."""
ROUNDS = 10
"""Rounds per claim (a claim that finds more goes on the next time)."""
DEAD_LETTER_CLIENT = "00000000-0000-4000-8000-0000000000de"
"""The ``Client-ID`` dead letters are posted with across pools."""


def send_across(router: Router, source: DataDriver, project: str, queue: str) -> int:
    """Move the spent messages of ``queue`` (in ``source``) to its dead-letter
    queue wherever the catalogue has it; how many went."""
    sent = 0
    for _ in range(ROUNDS):
        held = source.claims.hold_dead_letters(project, queue, lease=LEASE_SECONDS, limit=BATCH)
        if held is None or not held.messages:
            break
        target = router.lookup(project, held.queue)
        for sealed in (False, True):  # one post per kind of stored body
            batch = [NewMessage(b, ttl=t, sealed=s) for _i, b, t, s in held.messages if s is sealed]
            if batch:
                target.messages.post(project, held.queue, batch, DEAD_LETTER_CLIENT)
        ids = [message_id for message_id, *_rest in held.messages]
        source.messages.bulk_delete(project, queue, ids, claim_ids=[held.claim_id])
        sent += len(ids)
        if len(ids) < BATCH:
            break
    return sent
