"""Frozen value objects handed across the storage interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
F = TypeVar("F")
_new_instance = object.__new__


def _frozen(cls: type[F], fields: dict[str, Any]) -> F:
    """An instance of the frozen dataclass ``cls`` with every one of its ``fields``
    (by name), as ``cls(**fields)`` makes it.

    PERF: the fields go into the new instance's ``__dict__`` at once; a frozen
    ``__init__`` sets each through ``object.__setattr__`` (about 1,400
    instructions a field, valgrind). Only for classes without ``__post_init__``
    or slots, given all their fields.
    """
    instance = _new_instance(cls)
    instance.__dict__.update(fields)
    return instance


JSON = Any


@dataclass(frozen=True)
class NewMessage:
    """A message as a producer posts it; ``None`` means "use the default"."""

    body: JSON
    ttl: int | None = None
    delay: int | None = None
    sealed: bool = False
    """Store the body encrypted whatever the queue's policy: a dead letter
    that was sealed where it came from (pooling/deadletters.py)."""

    @classmethod
    def posted(cls, body: JSON, ttl: int | None, delay: int | None) -> NewMessage:
        """``NewMessage(body, ttl, delay)``, as a POST's messages are made (PERF: ``_frozen``)."""
        return _frozen(cls, {"body": body, "ttl": ttl, "delay": delay, "sealed": False})


@dataclass(frozen=True)
class Message:
    """A stored message as a reader sees it."""

    id: str
    ttl: int
    age: int
    body: JSON
    claim_id: str | None
    claim_count: int
    created: float
    marker: int
    checksum: str | None = None
    """Zaqar's ``"MD5:<hex>"`` of the body, when the service shows checksums."""

    @classmethod
    def made(
        cls,
        id: str,
        ttl: int,
        age: int,
        body: JSON,
        claim_id: str | None,
        claim_count: int,
        created: float,
        marker: int,
        checksum: str | None,
    ) -> Message:
        """``Message(...)`` of these fields: equal, of equal hash, as frozen.

        PERF: ``_frozen``, 13k of the 40k instructions reading a message row
        took (valgrind); a claim or a listing makes one per message.
        """
        fields = {
            "id": id,
            "ttl": ttl,
            "age": age,
            "body": body,
            "claim_id": claim_id,
            "claim_count": claim_count,
            "created": created,
            "marker": marker,
            "checksum": checksum,
        }
        return _frozen(cls, fields)

    def to_storage_dict(self) -> dict[str, Any]:
        """The storage-level message document (Zaqar's key set; ``checksum`` when known)."""
        doc = {
            "id": self.id,
            "ttl": self.ttl,
            "age": self.age,
            "body": self.body,
            "claim_id": self.claim_id,
            "claim_count": self.claim_count,
        }
        if self.checksum is not None:
            doc["checksum"] = self.checksum
        return doc


@dataclass(frozen=True)
class Claim:
    """A claim's own metadata (its messages travel beside it)."""

    id: str
    ttl: int
    grace: int
    age: int


@dataclass(frozen=True)
class QueueInfo:
    """One queue of a listing; ``metadata`` is None unless detailed."""

    name: str
    metadata: dict[str, JSON] | None = None


@dataclass(frozen=True)
class MessageSummary:
    """Oldest or newest message of a queue, for stats."""

    id: str
    age: int
    created: float


@dataclass(frozen=True)
class QueueStats:
    """Message counts of one queue."""

    free: int
    claimed: int
    total: int
    oldest: MessageSummary | None = None
    newest: MessageSummary | None = None
    posted: int = 0
    """Messages ever posted to the queue (dead letters moved in count too);
    with ``total`` it gives how many left it (deleted, expired, dead-lettered)."""


@dataclass(frozen=True)
class QueueDepth:
    """How many message rows a queue holds, from its counters (for ranking queues).

    ``rows`` counts expired messages not yet collected, so it may exceed the
    queue's ``QueueStats.total``; it is read without scanning messages.
    """

    project: str
    name: str
    rows: int


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the marker that fetches the next one."""

    items: list[T]
    next_marker: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class Subscription:
    """A subscription of a subscriber to a queue's messages."""

    id: str
    source: str
    subscriber: str
    ttl: int
    age: int
    options: dict[str, JSON] = field(default_factory=dict)
    confirmed: bool = False


@dataclass(frozen=True)
class Delivery:
    """One notification to send, taken from a database's outbox.

    ``kind`` is ``"notification"`` (a posted message), ``"confirm"`` or
    ``"unconfirm"`` (Zaqar's SubscriptionConfirmation and
    UnsubscribeConfirmation). ``attempts`` counts this attempt too.
    ``subscription`` is None when the subscription was deleted or expired.
    ``created`` is when the row was written (seconds since the epoch).
    """

    id: int
    kind: str
    project: str
    queue: str
    subscription_id: str
    message_id: str | None
    body: JSON
    ttl: int
    attempts: int
    created: float
    subscription: Subscription | None
    queue_metadata: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryResult:
    """How sending one outbox row ended.

    ``state``: ``"delivered"``; ``"retry"`` (due again in ``delay`` seconds);
    ``"failed"`` (final, kept for inspection); ``"dropped"`` (must not be sent:
    the subscription is gone or unconfirmed); ``"released"`` (taken but not
    tried: due again at once, the attempt uncounted). ``error`` says why it failed.
    """

    delivery_id: int
    state: str
    delay: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class DeliveryStats:
    """Deliveries of one subscription still in the outbox, by state."""

    delivered: int = 0
    pending: int = 0
    failed: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Pool:
    """A database that holds queues."""

    name: str
    uri: str
    weight: int
    flavor: str | None = None
    options: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class Flavor:
    """A named group of pools, per project."""

    name: str
    project: str
    capabilities: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogueEntry:
    """Where one queue of one project lives."""

    project: str
    queue: str
    pool: str


@dataclass(frozen=True)
class FlavorView:
    """A flavor as the admin API shows it: its pools and their shared capabilities."""

    name: str
    project: str
    pool_list: list[str]
    capabilities: list[str]


@dataclass(frozen=True)
class StoreHealth:
    """Whether one database answers, and its live messages when it does."""

    reachable: bool
    volume: QueueStats | None = None


@dataclass(frozen=True)
class Health:
    """The catalogue, the default database and every registered pool."""

    catalogue_reachable: bool
    default: StoreHealth
    pools: dict[str, StoreHealth] = field(default_factory=dict)
