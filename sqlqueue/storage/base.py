"""The storage contract: one abstract controller per resource, and the queue store.

A controller serves exactly one database; a ``DataDriver`` bundles one
database's controllers. A ``QueueStore`` says which data driver holds each
queue: ``SingleStore`` when there is one database, the pooled store
(``storage/pooling``) when queues are spread over pools. Callers resolve a
queue's driver once (``store.at`` or ``store.placing``) and then call the
contract directly, so a queue-scoped call is declared here, implemented in
``storage/sql`` and called by the transport, and pooling never repeats it.
Every method takes the project first; ``""`` is the explicit "no project" value.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlqueue import errors
from sqlqueue.domain.bodies import PLAIN, BodyCodec
from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.domain.models import (
    CatalogueEntry,
    Claim,
    Delivery,
    DeliveryResult,
    DeliveryStats,
    Flavor,
    Message,
    NewMessage,
    Page,
    Pool,
    QueueDepth,
    QueueInfo,
    QueueStats,
    Subscription,
)
from sqlqueue.domain.moves import DeadLetters, Tombstone
from sqlqueue.domain.namespaces import QUEUES, Namespace
from sqlqueue.storage.blobs import BlobStore
from sqlqueue.storage.wakeup import Waiter

logger = logging.getLogger(__name__)

Metadata = dict[str, Any]
Messages = list[Message]
"""A list of messages (an alias: controllers have a method named ``list``)."""
QueueDepths = list[QueueDepth]
"""A list of queue depths (an alias, as ``Messages``)."""
GcProgress = Callable[[int], None]
"""Told how many rows each committed gc batch removed; what it raises stops gc
between two batches (nothing is left half done)."""


@dataclass(frozen=True)
class StorageOptions:
    """Defaults a data driver applies when a request leaves them out."""

    default_message_ttl: int = 3600
    default_queue_page: int = 10
    default_message_page: int = 10
    default_claim_limit: int = 10
    gc_batch: int = 1000
    gc_rate: float = 0.0
    """Rows a second the collector deletes at most over one pass (0: no cap)."""
    fifo: bool = True
    """False: a post reserves its markers in a short transaction of its own, so
    producers of one queue do not wait on each other's inserts; markers no
    longer follow commit order and a reader paging by marker may skip a
    message that commits late (the seed's ``"fifo": false`` flavor)."""
    creates_dead_letter_queues: bool = True
    """False (a pool's database): a claim whose dead-letter queue is not in
    this database raises ``DeadLetterQueueAway`` instead of creating it
    here, for the pooled store to find where the catalogue placed it."""
    wake_poll_seconds: float = 0.1
    """Where the database cannot push post events (MySQL, SQLite), how often
    one shared query per process checks the queues someone long-polls."""
    require_confirmation: bool = False
    """True: posts notify only confirmed subscriptions, and subscribing or
    unconfirming queues a confirmation notice."""
    keep_delivered: int = 3600
    """Seconds a delivered outbox row is kept (and counted) before gc."""
    keep_failed: int = 7 * 86400
    """Seconds a failed outbox row is kept for inspection before gc."""
    bodies: BodyCodec = PLAIN
    """How message bodies are stored and read: encryption keys for queues with
    ``_enable_encrypt_messages``, and whether readers get checksums."""
    blobs: BlobStore | None = None
    """Where bodies above a queue's ``_blob_threshold`` go (storage/blobs.py);
    None: the threshold is refused (400)."""
    maintenance: bool = True
    """Whether ``maintain`` does anything (the collector's maintenance step)."""
    maintenance_interval: float = 60.0
    """Seconds at least between two maintenance steps of one process."""
    maintenance_min_rows: int = 1000
    maintenance_fraction: float = 0.05
    """A table is vacuumed (analyzed) once its dead (changed) rows pass
    ``maintenance_min_rows + maintenance_fraction x its live rows``."""


class QueueController(abc.ABC):
    """Queues: names and metadata."""

    @abc.abstractmethod
    def create(self, project: str, name: str, metadata: Metadata | None = None) -> bool:
        """Create a queue. Returns True if created, False if it existed (unchanged)."""

    @abc.abstractmethod
    def exists(self, project: str, name: str) -> bool:
        """Whether the queue exists."""

    @abc.abstractmethod
    def get_metadata(self, project: str, name: str) -> Metadata:
        """The stored metadata. :raises QueueDoesNotExist:"""

    @abc.abstractmethod
    def set_metadata(self, project: str, name: str, metadata: Metadata) -> None:
        """Replace the metadata. :raises QueueDoesNotExist:"""

    @abc.abstractmethod
    def update_metadata(
        self, project: str, name: str, change: Callable[[Metadata], Metadata]
    ) -> Metadata:
        """Replace the metadata with ``change(stored)``, atomically; the result.

        No other change of the queue's metadata can come between the read
        and the write (concurrent updates all apply, one after another).
        ``change`` must be idempotent: it may run more than once (a retried
        transaction); whatever it raises propagates and nothing is written.
        :raises QueueDoesNotExist:
        """

    @abc.abstractmethod
    def delete(self, project: str, name: str) -> None:
        """Delete the queue with its messages and claims (silent if missing)."""

    @abc.abstractmethod
    def list(
        self,
        project: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
        detailed: bool = False,
        name: str | None = None,
        filters: Mapping[str, Any] | None = None,
        with_count: bool = False,
        namespace: Namespace = QUEUES,
    ) -> Page[QueueInfo]:
        """Queues sorted by name, after ``marker``; ``name`` is a substring filter,
        ``filters`` metadata equality filters; ``count`` set when ``with_count``.

        Only the keys of ``namespace`` are listed (topics: ``TOPICS``, whose
        names and marker are keys, domain/namespaces.py)."""

    @abc.abstractmethod
    def projects(self, namespace: Namespace = QUEUES) -> dict[str, int]:
        """How many queues (or topics: ``TOPICS``) each project has in this
        database (one grouped scan)."""

    @abc.abstractmethod
    def stats(self, project: str, name: str) -> QueueStats:
        """Counts of free, claimed and total messages (zeros if missing), and
        how many were ever posted."""

    @abc.abstractmethod
    def deepest(self, limit: int) -> QueueDepths:
        """Up to ``limit`` queues of every project, the most message rows first.

        Read from the queue counters (storage/sql/counters.py): the cost grows
        with the number of queues, never with their depth.
        """


class MessageController(abc.ABC):
    """Messages of one queue, in marker (FIFO) order."""

    def blob_refs(self, project: str, queue: str, keys: Sequence[str]) -> dict[str, int]:
        """Which of the blob ``keys`` live messages or pending notifications of the
        queue still point to: key -> until when (ms) it is needed at least.

        The default keeps every blob (a driver without blobs never frees one).

        :raises StorageUnavailable:
        """
        return dict.fromkeys(keys, 2**62)

    @abc.abstractmethod
    def post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        client_id: str,
        *,
        size: int = 0,
    ) -> list[str]:
        """Post a batch all-or-nothing, creating the queue if needed.

        Returns the new ids in input order. ``size`` is the request's size in
        bytes, checked against the queue's ``_max_messages_post_size`` in the
        same transaction that reads the queue.

        :raises ValidationFailed: ``size`` is over the queue's limit.
        """

    @abc.abstractmethod
    def list(
        self,
        project: str,
        queue: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
        echo: bool = False,
        client_id: str | None = None,
        include_claimed: bool = False,
        include_delayed: bool = False,
    ) -> Page[Message]:
        """Messages after ``marker`` in marker order (empty if queue missing)."""

    @abc.abstractmethod
    def get(self, project: str, queue: str, message_id: str) -> Message:
        """One message. :raises MessageDoesNotExist:"""

    @abc.abstractmethod
    def bulk_get(self, project: str, queue: str, message_ids: Sequence[str]) -> Messages:
        """The messages among ``message_ids`` that exist (malformed ids ignored)."""

    @abc.abstractmethod
    def delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None = None
    ) -> None:
        """Delete one message (silent if missing).

        :raises MessageIsClaimed: claimed and no claim id given.
        :raises MessageNotClaimed: claim id given but the message is not claimed.
        :raises MessageNotClaimedBy: claimed by another claim.
        :raises ClaimDoesNotExist: the claim id is malformed.
        """

    @abc.abstractmethod
    def bulk_delete(
        self,
        project: str,
        queue: str,
        message_ids: Sequence[str],
        claim_ids: Sequence[str] | None = None,
    ) -> None:
        """Delete by ids, ignoring claims unless ``claim_ids`` restricts them."""

    @abc.abstractmethod
    def pop(self, project: str, queue: str, limit: int) -> Messages:
        """Delete and return up to ``limit`` unclaimed messages, oldest first."""

    @abc.abstractmethod
    def first(self, project: str, queue: str, sort: int = 1) -> Message:
        """The first (sort=1) or last (sort=-1) message. :raises QueueIsEmpty:"""


class ClaimController(abc.ABC):
    """Claims: leases on messages that expire by themselves."""

    @abc.abstractmethod
    def create(
        self,
        project: str,
        queue: str,
        *,
        ttl: int,
        grace: int,
        limit: int | None = None,
    ) -> tuple[str | None, Messages]:
        """Claim up to ``limit`` free messages, oldest first (best effort).

        Returns ``(None, [])`` when nothing could be claimed.
        """

    @abc.abstractmethod
    def get(self, project: str, queue: str, claim_id: str) -> tuple[Claim, Messages]:
        """A live claim and its messages. :raises ClaimDoesNotExist:"""

    @abc.abstractmethod
    def update(self, project: str, queue: str, claim_id: str, *, ttl: int, grace: int) -> None:
        """Renew a live claim (its age restarts). :raises ClaimDoesNotExist:"""

    @abc.abstractmethod
    def delete(self, project: str, queue: str, claim_id: str) -> None:
        """Release a claim's messages (silent if missing)."""

    def hold_dead_letters(
        self, project: str, queue: str, *, lease: int, limit: int
    ) -> DeadLetters | None:
        """Claim (for ``lease`` seconds, claim counts unchanged) up to ``limit``
        free messages claimed ``_max_claim_count`` times or more, for the pooled
        store to post them to the dead-letter queue in its pool and delete them
        here. None: the queue is missing or dead-letters nothing. This default
        (a store that dead-letters within itself) holds none.
        """
        return None


class SubscriptionController(abc.ABC):
    """Subscriptions of subscribers to a queue."""

    @abc.abstractmethod
    def list(
        self,
        project: str,
        queue: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
    ) -> Page[Subscription]:
        """Subscriptions of a queue in creation order."""

    @abc.abstractmethod
    def get(self, project: str, queue: str, subscription_id: str) -> Subscription:
        """:raises SubscriptionDoesNotExist:"""

    @abc.abstractmethod
    def create(
        self, project: str, queue: str, subscriber: str, ttl: int, options: Metadata
    ) -> str | None:
        """The new id, or None if the subscriber is already subscribed."""

    @abc.abstractmethod
    def find(self, project: str, queue: str, subscriber: str) -> Subscription | None:
        """The subscription of ``subscriber`` to ``queue``, if any."""

    @abc.abstractmethod
    def update(
        self,
        project: str,
        queue: str,
        subscription_id: str,
        *,
        subscriber: str | None = None,
        ttl: int | None = None,
        options: Metadata | None = None,
    ) -> None:
        """:raises SubscriptionDoesNotExist: :raises SubscriptionAlreadyExists:"""

    @abc.abstractmethod
    def delete(self, project: str, queue: str, subscription_id: str) -> None:
        """Delete (silent if missing)."""

    @abc.abstractmethod
    def confirm(self, project: str, queue: str, subscription_id: str, confirmed: bool) -> None:
        """Set ``confirmed``; with ``require_confirmation``, unconfirming queues an
        UnsubscribeConfirmation notice in the same transaction.

        :raises SubscriptionDoesNotExist:"""

    @abc.abstractmethod
    def request_confirmation(self, project: str, queue: str, subscription_id: str) -> None:
        """Queue a SubscriptionConfirmation notice (only with ``require_confirmation``;
        ``create`` queues one for a new subscription by itself)."""

    @abc.abstractmethod
    def delivery_stats(self, project: str, queue: str, subscription_id: str) -> DeliveryStats:
        """Counts of the subscription's deliveries still in the outbox, and the last error."""


class DeliveryController(abc.ABC):
    """The notification outbox of one database (rows are written by posts).

    Times are the database driver's clock; durations are seconds.
    """

    @abc.abstractmethod
    def take_due(
        self,
        limit: int,
        lease: float,
        *,
        per_subscription: int = 0,
        subscriptions: int = 0,
        busy: Sequence[str] = (),
        done: Sequence[DeliveryResult] = (),
    ) -> list[Delivery]:
        """Record ``done`` (as ``record``), then lease up to ``limit`` due deliveries,
        oldest first, for ``lease`` seconds, in one transaction.

        A leased row is due again when its lease ends (its sender died), so
        every row is delivered at least once. Rows locked by another worker are
        skipped (SKIP LOCKED; SQLite has one writer at a time). At most
        ``per_subscription`` rows per subscription and rows of at most
        ``subscriptions`` subscriptions are taken (0: no cap), none of the
        ``busy`` subscriptions.
        """

    @abc.abstractmethod
    def record(self, results: Sequence[DeliveryResult]) -> None:
        """Record how sends ended, in one transaction: delivered rows are kept
        ``keep_delivered`` seconds, failed ones ``keep_failed``, dropped ones go,
        released ones (taken but not tried) are due again with their attempt uncounted."""

    @abc.abstractmethod
    def stats(self, subscription_id: str) -> DeliveryStats:
        """Counts of a subscription's rows by state, and its latest error."""


class PoolController(abc.ABC):
    """Registered pools (control plane)."""

    @abc.abstractmethod
    def create(self, pool: Pool) -> None:
        """Create or replace by name. :raises PoolAlreadyExists: duplicate uri.

        :raises PoolHoldsQueues: replacing the uri of a pool that holds queues.
        """

    @abc.abstractmethod
    def get(self, name: str) -> Pool:
        """:raises PoolDoesNotExist:"""

    @abc.abstractmethod
    def list(self, *, marker: str | None = None, limit: int | None = None) -> Page[Pool]:
        """Pools by name."""

    @abc.abstractmethod
    def update(self, name: str, **fields: Any) -> None:
        """:raises PoolDoesNotExist: :raises PoolHoldsQueues: a new uri while it holds queues."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Delete (silent if missing)."""


class FlavorController(abc.ABC):
    """Flavors: named sets of pools (control plane)."""

    @abc.abstractmethod
    def create(self, flavor: Flavor) -> None:
        """Create or replace by (project, name)."""

    @abc.abstractmethod
    def get(self, project: str, name: str) -> Flavor:
        """:raises FlavorDoesNotExist:"""

    @abc.abstractmethod
    def list(
        self, project: str, *, marker: str | None = None, limit: int | None = None
    ) -> Page[Flavor]:
        """Flavors of a project by name."""

    @abc.abstractmethod
    def delete(self, project: str, name: str) -> None:
        """Delete (silent if missing)."""


class CatalogueController(abc.ABC):
    """The catalogue: which pool holds each queue (control plane)."""

    @abc.abstractmethod
    def get(self, project: str, queue: str) -> CatalogueEntry:
        """:raises QueueNotMapped:"""

    @abc.abstractmethod
    def insert(self, project: str, queue: str, pool: str) -> None:
        """Map the queue to ``pool`` (replacing any mapping)."""

    @abc.abstractmethod
    def list(
        self,
        project: str | None,
        *,
        marker: str | None = None,
        limit: int | None = None,
    ) -> Page[CatalogueEntry]:
        """Entries of one project (all when None)."""

    @abc.abstractmethod
    def delete(self, project: str, queue: str) -> None:
        """Remove the mapping (silent if missing)."""

    @abc.abstractmethod
    def count(self) -> int:
        """How many queues the catalogue places, every project together."""


class QueueWakeups(abc.ABC):
    """Long-poll: wait, at no cost, until a queue may have new messages.

    ``join`` before looking for messages, ``wait`` after a look found
    nothing, ``leave`` when done: a post committed between the join (or the
    previous wake-up) and the wait makes the wait return at once. Wake-ups
    may be spurious (look again), never lost. A post of n messages wakes n
    claim waiters of its queue (not all of them) and every listing waiter
    (storage/wakeup.py).
    """

    @abc.abstractmethod
    def join(self, project: str, queue: str, *, consumes: bool) -> Waiter:
        """Register a waiter of ``queue`` before its first look.

        ``consumes``: it claims (woken one per message) rather than lists
        (woken by every post).
        """

    @abc.abstractmethod
    def wait(self, waiter: Waiter, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a post since the waiter last looked.

        Returns True when woken by a post (look again), False on timeout,
        cancellation or shutdown.
        """

    @abc.abstractmethod
    def leave(self, waiter: Waiter, *, more: bool = False) -> None:
        """Unregister ``waiter``; ``more``: its last look took a full batch.

        A claim waiter that leaves with a wake-up it did not look after, or
        with ``more``, wakes the next claim waiter of its queue.
        """

    @abc.abstractmethod
    def cancel(self, waiter: Waiter) -> None:
        """End ``waiter``'s wait at once (its client left); any thread may call it."""

    @abc.abstractmethod
    def wake(self, project: str, queue: str, count: int = 1) -> None:
        """Wake waiters here as a post of ``count`` messages would."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release every waiter (they answer as if their wait ran out); later waits return."""


class DataDriver(abc.ABC):
    """One database's data-plane controllers and housekeeping."""

    queues: QueueController
    messages: MessageController
    claims: ClaimController
    subscriptions: SubscriptionController
    wakeups: QueueWakeups
    deliveries: DeliveryController
    """The outbox of this database (a pooled driver has none of its own)."""

    @abc.abstractmethod
    def is_alive(self) -> bool:
        """Whether the database answers."""

    @abc.abstractmethod
    def gc(self, progress: GcProgress | None = None) -> int:
        """Delete expired messages, claims, subscriptions and finished deliveries;
        returns how many rows went. ``progress`` hears of every committed batch."""

    @abc.abstractmethod
    def gc_backlog(self) -> int:
        """How many rows ``gc`` would remove now (counted over the expiry indexes)."""

    def maintain(self) -> list[str]:
        """Keep the churning tables flat (vacuum, statistics, file size), if due.

        Returns what was done, one line per action (empty: nothing was due).
        Safe from several processes at once. This default does nothing.
        """
        return []

    def unplaced(self) -> bool:
        """Whether the queue this driver was resolved for may yet be placed elsewhere.

        True for a queue on no pool that a post may still place on one, whose
        ``wakeups`` are another database's: a long-poll then looks up the
        queue again every ``PLACEMENT_RECHECK`` seconds (transport/wsgi/longpoll.py).
        False here: a driver that holds every queue.
        """
        return False

    def tombstones(self, before: int, limit: int) -> list[Tombstone]:
        """Up to ``limit`` tombstones of queues moved away, ended before ``before`` (ms).

        This default (a database queues never move out of) has none.
        """
        return []

    def forget_tombstone(self, tombstone: Tombstone) -> bool:
        """Delete ``tombstone`` if it is still as read (not replaced by a
        queue moved back, nor touched by a move's end); whether it went."""
        return False

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""


DriverOpener = Callable[[], DataDriver]
"""Returns one database's data driver (opening it may raise StorageUnavailable)."""


class QueueStore(abc.ABC):
    """Which data driver holds each queue; placement is the only thing it adds.

    Queue-scoped calls go to ``at(project, queue).<controller>.<call>``;
    calls that may create the queue (queue create, message post, subscribe)
    first get their driver from ``placing``. Only what depends on placement
    is implemented by a store: deleting a queue, listing queues across
    databases, and housekeeping over every database.

    ``blobs``, ``blob_grace`` (seconds) and ``blob_clock``: the blob store, whose
    orphans and expired bodies ``gc`` collects too (storage/blobgc.py).
    """

    blobs: BlobStore | None = None
    blob_grace: float = 300.0
    blob_clock: Clock = staticmethod(system_clock)

    @abc.abstractmethod
    def at(self, project: str, queue: str) -> DataDriver:
        """The driver holding ``queue``; for a missing queue, one that answers as missing.

        :raises StorageUnavailable: the queue's pool cannot be opened.
        """

    @abc.abstractmethod
    def placing(self, project: str, queue: str, metadata: Metadata | None = None) -> DataDriver:
        """The driver to create or reconfigure ``queue`` in, placing it first if needed.

        ``metadata`` is the queue's (new) metadata: its ``_flavor`` chooses the
        pools a new queue may go to, and its ``_dead_letter_queue`` is placed
        beside the queue (claims move dead letters within one database).

        :raises FlavorDoesNotExist: :raises NoPoolFound: no pool fits.
        :raises ValidationFailed: the dead-letter queue lives in another pool.
        """

    @abc.abstractmethod
    def delete_queue(self, project: str, name: str) -> None:
        """Delete the queue with its messages, claims and subscriptions (silent if missing)."""

    @abc.abstractmethod
    def list_queues(
        self,
        project: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
        detailed: bool = False,
        name: str | None = None,
        filters: Mapping[str, Any] | None = None,
        with_count: bool = False,
        namespace: Namespace = QUEUES,
    ) -> Page[QueueInfo]:
        """Queues of every database, by name (``QueueController.list``'s arguments)."""

    @abc.abstractmethod
    def databases(self) -> list[DriverOpener]:
        """Openers of every database's driver (for housekeeping: gc, health, delivery)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the store opened."""

    def create_queue(self, project: str, name: str, metadata: Metadata | None = None) -> bool:
        """Create the queue where it is placed; True if created (see ``QueueController``)."""
        return self.placing(project, name, metadata).queues.create(project, name, metadata)

    def is_alive(self) -> bool:
        """Whether every database answers."""
        try:
            return all(opener().is_alive() for opener in self.databases())
        except errors.StorageUnavailable:
            return False

    def release_waiters(self) -> None:
        """End every long-poll of this process in every database (the server is stopping)."""
        for opener in self.databases():
            try:
                opener().wakeups.close()
            except errors.StorageUnavailable as ex:
                logger.warning("cannot release the waiters of a database: %s", ex)

    def deepest_queues(self, limit: int) -> QueueDepths:
        """The ``limit`` deepest queues of every database that answers (``deepest``)."""
        found: dict[tuple[str, str], QueueDepth] = {}
        for opener in self.databases():
            try:
                for depth in opener().queues.deepest(limit):
                    found.setdefault((depth.project, depth.name), depth)
            except errors.StorageUnavailable as ex:
                logger.warning("queue depths skipped an unavailable database: %s", ex)
        ranked = sorted(found.values(), key=lambda d: (-d.rows, d.project, d.name))
        return ranked[:limit]

    def gc_backlog(self) -> int:
        """``gc_backlog`` of every database that answers."""
        found = 0
        for opener in self.databases():
            try:
                found += opener().gc_backlog()
            except errors.StorageUnavailable as ex:
                logger.warning("gc backlog skipped an unavailable database: %s", ex)
        return found

    def gc(self, progress: GcProgress | None = None) -> int:
        """Collect expired rows in every database that answers; skip the others."""
        removed = 0
        for opener in self.databases():
            try:
                removed += opener().gc(progress)
            except errors.StorageUnavailable as ex:
                logger.warning("gc skipped an unavailable database: %s", ex)
        if self.blobs is not None:
            from sqlqueue.storage import blobgc

            removed += blobgc.collect(self, self.blobs, self.blob_grace, clock=self.blob_clock)
        return removed

    def maintain(self) -> list[str]:
        """The maintenance step in every database that answers; what was done."""
        done = []
        for opener in self.databases():
            try:
                done += opener().maintain()
            except errors.StorageUnavailable as ex:
                logger.warning("maintenance skipped an unavailable database: %s", ex)
        return done


class SingleStore(QueueStore):
    """Every queue in one database (no pools)."""

    def __init__(self, driver: DataDriver) -> None:
        self.driver = driver

    def at(self, project: str, queue: str) -> DataDriver:
        return self.driver

    def placing(self, project: str, queue: str, metadata: Metadata | None = None) -> DataDriver:
        return self.driver

    def delete_queue(self, project: str, name: str) -> None:
        self.driver.queues.delete(project, name)

    def list_queues(
        self,
        project: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
        detailed: bool = False,
        name: str | None = None,
        filters: Mapping[str, Any] | None = None,
        with_count: bool = False,
        namespace: Namespace = QUEUES,
    ) -> Page[QueueInfo]:
        return self.driver.queues.list(
            project,
            marker=marker,
            limit=limit,
            detailed=detailed,
            name=name,
            filters=filters,
            with_count=with_count,
            namespace=namespace,
        )

    def databases(self) -> list[DriverOpener]:
        return [lambda: self.driver]

    def close(self) -> None:
        self.driver.close()
