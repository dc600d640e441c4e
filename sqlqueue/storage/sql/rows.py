"""Message rows: the columns readers select and their domain form."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from sqlqueue.domain.bodies import BodyCodec
from sqlqueue.domain.models import Message, Subscription
from sqlqueue.domain.policy import QueuePolicy
from sqlqueue.storage.base import Metadata
from sqlqueue.storage.sql import statements
from sqlqueue.storage.sql.database import loads
from sqlqueue.storage.sql.tables import messages

COLUMNS = statements.READ_COLUMNS


def age_seconds(now: int, since: int) -> int:
    """Whole seconds from ``since`` to ``now`` (both ms), never negative.

    A reader's clock reading may precede a row that a concurrent writer
    stamped a moment later and committed before the reader's statement
    ran: such a row is 0 seconds old, not -1.
    """
    return max(0, (now - since) // 1000)


def to_message(row: Row[Any], now: int, bodies: BodyCodec) -> Message:
    """The message a reader sees at ``now`` (ms), its body opened by ``bodies``.

    PERF: one call per row of every claim and listing: the age
    (``age_seconds``) is computed inline and the checksum only when shown.

    :raises errors.BodyCipherFailed: the body is encrypted with a key that is
        not configured (or not the one configured under its id).
    """
    body = bodies.load(row.body)
    created = row.created_at
    return Message.made(
        str(row.id),
        row.ttl,
        max(0, (now - created) // 1000),  # age_seconds
        body,
        row.claim_id if row.claim_expires > now else None,
        row.claim_count,
        created / 1000,
        row.marker,
        bodies.checksum(body) if bodies.checksums else None,
    )


def live(queue_id: int, now: int) -> list[Any]:
    """Conditions for the unexpired messages of a queue."""
    return [messages.c.queue_id == queue_id, messages.c.expires_at > now]


def available(queue_id: int, now: int, meta: Metadata, include_delayed: bool = False) -> list[Any]:
    """Conditions for messages a consumer may take: unclaimed and not delayed.

    Delays apply only while the queue is a delayed queue (it has a non-zero
    ``_default_message_delay``), so clearing that key frees delayed messages.
    """
    where = [*live(queue_id, now), messages.c.claim_expires <= now]
    if QueuePolicy.of(meta).default_message_delay and not include_delayed:
        where.append(messages.c.delay_until <= now)
    return where


def select_messages(*where: Any) -> sa.Select[Any]:
    """The reader's columns of the messages matching ``where``."""
    return sa.select(*COLUMNS).where(*where)


def to_subscription(row: Row[Any], now: int) -> Subscription:
    """A subscriptions row as the contract's ``Subscription`` (age in whole seconds)."""
    return Subscription(
        id=row.id,
        source=row.source,
        subscriber=row.subscriber,
        ttl=row.ttl,
        age=age_seconds(now, row.created_at),
        options=loads(row.options),
        confirmed=bool(row.confirmed),
    )
