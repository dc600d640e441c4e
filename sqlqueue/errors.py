"""The single exception tree of sqlqueue.

Storage and validation raise these; the transport maps each family to one
HTTP status in one table (``transport/wsgi/errors.py``).
"""

from __future__ import annotations


class SqlqueueError(Exception):
    """Root of every error sqlqueue raises on purpose."""

    def __init__(self, description: str = "", *, title: str | None = None) -> None:
        super().__init__(description or (self.__doc__ or "").strip())
        self.description = str(self)
        self.title = title
        """A title of its own for the error body; None: the family's (the transport's table)."""


class ValidationFailed(SqlqueueError):
    """The request is invalid."""


class DoesNotExist(SqlqueueError):
    """The resource does not exist."""


class QueueDoesNotExist(DoesNotExist):
    """Queue does not exist."""


class QueueIsEmpty(DoesNotExist):
    """Queue is empty."""


class MessageDoesNotExist(DoesNotExist):
    """Message does not exist."""


class ClaimDoesNotExist(DoesNotExist):
    """Claim does not exist."""


class SubscriptionDoesNotExist(DoesNotExist):
    """Subscription does not exist."""


class PoolDoesNotExist(DoesNotExist):
    """Pool does not exist."""


class FlavorDoesNotExist(DoesNotExist):
    """Flavor does not exist."""


class QueueNotMapped(DoesNotExist):
    """Queue is not mapped to any pool."""


class NotPermitted(SqlqueueError):
    """The operation is not permitted in the resource's current state."""


class MessageIsClaimed(NotPermitted):
    """Message is claimed; a claim id is needed to delete it."""


class MessageNotClaimed(NotPermitted):
    """Message is not claimed (or its claim has expired)."""


class MessageNotClaimedBy(NotPermitted):
    """Message is claimed by another claim."""


class PoolInUse(NotPermitted):
    """Pool still holds queues or is the last pool of a flavor in use."""


class Conflict(SqlqueueError):
    """The request conflicts with the current state."""


class SubscriptionAlreadyExists(Conflict):
    """Such a subscription already exists."""


class PoolAlreadyExists(Conflict):
    """A pool with this URI already exists."""


class PoolHoldsQueues(Conflict):
    """A pool holding queues cannot be pointed at another database; move its queues first."""


class MessageConflict(Conflict):
    """Messages could not be enqueued; try again."""


class StorageUnavailable(SqlqueueError):
    """The storage backend is unavailable."""


class NoPoolFound(StorageUnavailable):
    """No pool is available to place the queue on."""


class EncryptionUnavailable(ValidationFailed):
    """Message encryption was asked for, but no encryption key is configured."""


class BlobStoreMissing(ValidationFailed):
    """``_blob_threshold`` was asked for, but no blob store is configured."""


class BadEncryptionKeys(ValidationFailed):
    """The configured encryption keys are malformed."""


class BodyCipherFailed(StorageUnavailable):
    """Encrypted message bodies cannot be read or written with the configured keys."""


class BadDatabaseUrl(ValidationFailed):
    """The database URL is malformed, or names a database or driver sqlqueue cannot use."""


class DatabaseUnreachable(StorageUnavailable):
    """The database server cannot be reached."""


class DatabaseMissing(StorageUnavailable):
    """The database named in the URL does not exist."""


class DatabaseAccessDenied(StorageUnavailable):
    """The database server refused the URL's user or password."""


class SchemaMismatch(StorageUnavailable):
    """The database is not at the schema this code expects (and may not be migrated here)."""


class QueueMoved(StorageUnavailable):
    """The queue was moved to another pool; ``pool`` names it.

    Raised by a pool's database when an operation meets the tombstone a move
    leaves behind; the pooled store retries the operation on ``pool``, so a
    client only ever sees it (as a 503) from a store that cannot follow it.
    """

    def __init__(self, pool: str, queue: str) -> None:
        super().__init__(f"Queue {queue} was moved to pool {pool}")
        self.pool = pool
        self.queue = queue


class DeadLetterQueueAway(StorageUnavailable):
    """A claim has messages to dead-letter into ``queue``, which this pool's
    database does not hold (placed on another pool, moved away, or not yet
    created here); the pooled store moves them across pools and claims again,
    so a client only sees it (as a 503) from a store that cannot.
    """

    def __init__(self, queue: str) -> None:
        super().__init__(f"Dead letter queue {queue} is not in this database")
        self.queue = queue


class MoveRefused(Conflict):
    """A queue cannot be moved as asked (same pool, a queue of that name there, ...)."""
