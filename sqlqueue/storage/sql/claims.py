"""Claims on SQL: leases written onto the message rows.

A message is claimed iff ``claim_expires > now``; the ``claims`` row keeps
the claim's ttl, grace and age. Candidates are taken oldest first with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MySQL (concurrent claimers
take disjoint rows instead of waiting), and SQLite serialises writers with
``BEGIN IMMEDIATE``; the UPDATE re-checks ``claim_expires <= now`` anyway.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sqlqueue import errors
from sqlqueue.domain import ids
from sqlqueue.domain.bodies import BlobRef, BodyCodec
from sqlqueue.domain.crypto import is_sealed
from sqlqueue.domain.models import Claim, Message
from sqlqueue.domain.moves import DeadLetters
from sqlqueue.domain.policy import QueuePolicy
from sqlqueue.observe.metrics import CLAIMS_CREATED, MESSAGES_CLAIMED, MESSAGES_DEAD_LETTERED
from sqlqueue.storage.base import ClaimController, Metadata, StorageOptions
from sqlqueue.storage.blobs import resolve
from sqlqueue.storage.sql import counters, hot, rows, statements, tally
from sqlqueue.storage.sql.database import Database, loads
from sqlqueue.storage.sql.messages import reserve_markers
from sqlqueue.storage.sql.queues import find_queue
from sqlqueue.storage.sql.tables import claims, messages
from sqlqueue.storage.sql.wakeups import SqlWakeups


def extend_lifetimes(
    conn: Connection, queue_id: int, claim_id: str, claim_expires: int, ttl: int, grace: int
) -> None:
    """Messages that would expire before the claim live until it ends plus grace."""
    stmt = (
        sa.update(messages)
        .where(
            messages.c.queue_id == queue_id,
            messages.c.claim_id == claim_id,
            messages.c.expires_at < claim_expires,
        )
        .values(expires_at=claim_expires + grace * 1000, ttl=ttl + grace)
    )
    conn.execute(stmt)


def claimed_messages(
    conn: Connection, queue_id: int, claim_id: str, now: int, bodies: BodyCodec
) -> list[Message]:
    """The live messages a live claim holds, in marker order (bodies opened by ``bodies``).

    The queue is in every claim-id condition so that no plan can range over
    other queues (SQLite's statistics see all the NULL claim ids as one value).
    """
    where = (
        messages.c.queue_id == queue_id,
        messages.c.claim_id == claim_id,
        messages.c.claim_expires > now,
        messages.c.expires_at > now,
    )
    stmt = rows.select_messages(*where).order_by(messages.c.marker)
    return [rows.to_message(r, now, bodies) for r in conn.execute(stmt)]


def dead_letter(
    conn: Connection,
    source: tuple[str, str],
    meta: Metadata,
    found: Sequence[Row[Any]],
    now: int,
    *,
    create: bool = True,
) -> list[Row[Any]]:
    """Move messages claimed too often to the dead-letter queue; the rest stay.

    A queue that names itself as its dead-letter queue keeps its messages
    (moving them to its own tail would only hide them from this claim).
    ``source``: the (project, name) of the queue the messages are in.
    Without ``create`` (a pool) the dead-letter queue must be here already.
    :raises DeadLetterQueueAway: it is not (moved away, placed elsewhere, or
        not created yet): the claim rolls back, for the pooled store.
    """
    project, name = source
    policy = QueuePolicy.of(meta)
    target, limit = policy.dead_letters_to(name), policy.max_claim_count
    if target is None or limit is None:
        return list(found)
    spent = [r for r in found if r.claim_count >= limit]
    if not spent:
        return list(found)
    try:
        if not create and find_queue(conn, project, target) is None:
            raise errors.DeadLetterQueueAway(target)
        queue_id, _meta, first = reserve_markers(conn, project, target, len(spent), now)
    except errors.QueueMoved as moved:
        raise errors.DeadLetterQueueAway(target) from moved
    dlq_ttl = policy.dead_letter_queue_messages_ttl
    for offset, row in enumerate(spent):
        values: dict[str, Any] = {
            "queue_id": queue_id,
            "marker": first + offset,
            "claim_id": None,
            "claim_expires": 0,
        }
        if dlq_ttl:
            values.update(ttl=dlq_ttl, expires_at=now + dlq_ttl * 1000)
        conn.execute(sa.update(messages).where(messages.c.id == row.id).values(values))
    tally.count(conn, MESSAGES_DEAD_LETTERED, len(spent))
    return [r for r in found if r.claim_count < limit]


@dataclass(frozen=True)
class Lease:
    """A claim being made: who, for how long, from when (ms)."""

    id: str
    ttl: int
    grace: int
    now: int

    @property
    def expires(self) -> int:
        """When the claim ends (ms)."""
        return self.now + self.ttl * 1000

    def take_params(self, keys: list[int], *, extend: bool) -> dict[str, Any]:
        """Parameters of ``statements.take(len(keys), extend=extend)`` for the rows ``keys``."""
        params: dict[str, Any] = statements.key_params(keys)
        expires = self.expires
        params["p_now"] = self.now
        params["p_claim"] = self.id
        params["p_claim_expires"] = expires
        if extend:
            params["p_extended_ttl"] = self.ttl + self.grace
            params["p_extended_expires"] = expires + self.grace * 1000
        return params

    def row(self, queue_id: int) -> dict[str, Any]:
        """The claims-table row of this claim."""
        return {
            "id": self.id,
            "queue_id": queue_id,
            "ttl": self.ttl,
            "grace": self.grace,
            "created_at": self.now,
            "expires_at": self.expires,
        }


_MARKER = operator.attrgetter("marker")


def claimable(
    conn: Connection,
    source: tuple[str, str, int],
    meta: Metadata,
    now: int,
    limit: int,
    *,
    create_dlq: bool = True,
) -> list[Any]:
    """Up to ``limit`` free messages, oldest first, locked: rows of (id, expires_at, …).

    Messages claimed too often move to the dead-letter queue on the way and
    do not count: the search goes on past them until ``limit`` messages are
    found or none is left, so a claim comes back empty only when nothing is
    claimable. ``source``: the (project, name, id) of the queue.
    """
    project, name, queue_id = source
    delayed = bool(QueuePolicy.of(meta).default_message_delay)
    pick = statements.CANDIDATES_UNDELAYED if delayed else statements.CANDIDATES
    kept: list[Any] = []
    after = 0
    while len(kept) < limit:
        want = limit - len(kept)
        params = {"p_queue": queue_id, "p_now": now, "p_limit": want, "p_after": after}
        found = hot.execute(conn, pick, params).rows
        more = dead_letter(conn, (project, name), meta, found, now, create=create_dlq)
        counters.add(conn, queue_id, len(more) - len(found))  # moved to the dead-letter queue
        kept += more
        if len(found) < want or len(more) == len(found):
            break  # the queue has no more free messages, or none was moved
        after = found[-1].marker
    return kept


def take(
    conn: Connection,
    source: tuple[str, str, int],
    meta: Metadata,
    lease: Lease,
    limit: int,
    bodies: BodyCodec,
    *,
    create_dlq: bool = True,
) -> list[Message]:
    """Claim up to ``limit`` free messages of a queue, oldest first.

    ``source``: the (project, name, id) of the queue. A body that cannot be
    opened raises ``BodyCipherFailed`` inside the transaction, so nothing is claimed.
    """
    found = claimable(conn, source, meta, lease.now, limit, create_dlq=create_dlq)
    if not found:
        return []
    keys = [row.id for row in found]
    # The rows are locked (SQLite: the write lock is held): their lifetimes cannot change.
    # A row that expires before the claim ends has its lifetime extended.
    expires = lease.expires
    extend = any(row.expires_at < expires for row in found)
    returning = bool(conn.dialect.update_returning)
    stmt = statements.take(len(keys), returning=returning, extend=extend)
    done = hot.execute(conn, stmt, lease.take_params(keys, extend=extend))
    if returning:
        now = lease.now
        taken = [rows.to_message(r, now, bodies) for r in done.rows]
        taken.sort(key=_MARKER)
        return taken
    if done.rowcount == 0:
        return []
    return claimed_messages(conn, source[2], lease.id, lease.now, bodies)


class SqlClaimController(ClaimController):
    """Claim controller over one database."""

    def __init__(self, db: Database, options: StorageOptions, wakeups: SqlWakeups) -> None:
        self._db = db
        self._options = options
        self._wakeups = wakeups

    def create(
        self,
        project: str,
        queue: str,
        *,
        ttl: int,
        grace: int,
        limit: int | None = None,
    ) -> tuple[str | None, list[Message]]:
        limit = limit or self._options.default_claim_limit
        now = self._db.now_ms()
        claim_id = ids.new_token()
        lease = Lease(claim_id, ttl, grace, now)

        def work(conn: Connection) -> tuple[str | None, list[Message]]:
            row = find_queue(conn, project, queue)
            if row is None:
                return None, []
            source = (project, queue, row.id)
            taken = take(
                conn,
                source,
                loads(row.meta),
                lease,
                limit,
                self._options.bodies,
                create_dlq=self._options.creates_dead_letter_queues,
            )
            if not taken:
                find_queue(conn, project, queue)  # moved while we looked?
                return None, []
            hot.execute(conn, statements.INSERT_CLAIM, lease.row(row.id))
            tally.count(conn, CLAIMS_CREATED, 1)
            tally.count(conn, MESSAGES_CLAIMED, len(taken))
            return claim_id, taken

        made, taken = self._db.run(work)
        return made, self._resolve(taken)

    def _resolve(self, found: list[Message]) -> list[Message]:
        """``found`` with the bodies kept in the blob store (fetched after the commit)."""
        return resolve(found, self._options.blobs, self._options.bodies)

    def get(self, project: str, queue: str, claim_id: str) -> tuple[Claim, list[Message]]:
        now = self._db.now_ms()

        def work(conn: Connection) -> tuple[Claim, list[Message]]:
            claim = self._live_claim(conn, project, queue, claim_id, now)
            held = claimed_messages(conn, claim.queue_id, claim_id, now, self._options.bodies)
            if not held:
                find_queue(conn, project, queue)  # moved meanwhile?
                raise errors.ClaimDoesNotExist(f"Claim {claim_id} does not exist")
            age = rows.age_seconds(now, claim.created_at)
            return Claim(claim_id, claim.ttl, claim.grace, age), held

        claim, held = self._db.run(work, write=False)
        return claim, self._resolve(held)

    def update(self, project: str, queue: str, claim_id: str, *, ttl: int, grace: int) -> None:
        now = self._db.now_ms()
        expires = now + ttl * 1000

        def work(conn: Connection) -> None:
            claim = self._live_claim(conn, project, queue, claim_id, now)
            renew = (
                sa.update(messages)
                .where(
                    messages.c.queue_id == claim.queue_id,
                    messages.c.claim_id == claim_id,
                    messages.c.claim_expires > now,
                )
                .values(claim_expires=expires)
            )
            if conn.execute(renew).rowcount == 0:
                find_queue(conn, project, queue)  # moved while we waited for the rows?
                raise errors.ClaimDoesNotExist(f"Claim {claim_id} does not exist")
            conn.execute(
                sa.update(claims)
                .where(claims.c.id == claim_id)
                .values(ttl=ttl, grace=grace, created_at=now, expires_at=expires)
            )
            extend_lifetimes(conn, claim.queue_id, claim_id, expires, ttl, grace)

        self._db.run(work)

    def delete(self, project: str, queue: str, claim_id: str) -> None:
        if not ids.is_token(claim_id):
            return
        now = self._db.now_ms()

        def work(conn: Connection) -> None:
            row = find_queue(conn, project, queue)
            if row is None:
                return
            # Only rows still under the claim: those of an expired claim are
            # free already, and the condition keeps the update in the queue's
            # claimed range.
            released = conn.execute(
                sa.update(messages)
                .where(
                    messages.c.queue_id == row.id,
                    messages.c.claim_id == claim_id,
                    messages.c.claim_expires > now,
                )
                .values(claim_id=None, claim_expires=0)
            ).rowcount
            gone = conn.execute(
                sa.delete(claims).where(claims.c.id == claim_id, claims.c.queue_id == row.id)
            ).rowcount
            if not released and not gone:
                find_queue(conn, project, queue)  # moved while we waited for the rows?

        self._db.run(work)
        self._wakeups.posted(project, queue)  # released messages are claimable again

    def hold_dead_letters(
        self, project: str, queue: str, *, lease: int, limit: int
    ) -> DeadLetters | None:
        now = self._db.now_ms()
        claim_id = ids.new_token()

        def work(conn: Connection) -> DeadLetters | None:
            row = find_queue(conn, project, queue)
            if row is None:
                return None
            meta = loads(row.meta)
            policy = QueuePolicy.of(meta)
            target, most = policy.dead_letters_to(queue), policy.max_claim_count
            if target is None or most is None:
                return None
            spent = [*rows.available(row.id, now, meta), messages.c.claim_count >= most]
            query = rows.select_messages(*spent).order_by(messages.c.marker).limit(limit)
            found = conn.execute(self._db.select_for_update(query)).all()
            if found:
                held = sa.update(messages).where(messages.c.id.in_([r.id for r in found]))
                conn.execute(held.values(claim_id=claim_id, claim_expires=now + lease * 1000))
                tally.count(conn, MESSAGES_DEAD_LETTERED, len(found))
            ttl = policy.dead_letter_queue_messages_ttl
            spent_rows = [
                (rows.to_message(r, now, self._options.bodies), is_sealed(r.body)) for r in found
            ]
            return DeadLetters(
                target, claim_id, [(m.id, m.body, ttl or m.ttl, s) for m, s in spent_rows]
            )

        held = self._db.run(work)
        return None if held is None else self._opened(held)

    def _opened(self, held: DeadLetters) -> DeadLetters:
        """``held`` with its bodies in the blob store fetched (and whether they were
        sealed there): the dead-letter queue's pool stores them as its own posts
        (in a blob of its own above its threshold), and the source's delete of the
        held rows deletes their blobs. One whose blob is gone is left held.

        :raises StorageUnavailable: the blob store failed (nothing moves).
        """
        keys = [body.key for _id, body, _ttl, _s in held.messages if isinstance(body, BlobRef)]
        if not keys:
            return held
        if self._options.blobs is None:
            raise errors.StorageUnavailable("A message body is in the blob store; none is set.")
        texts = self._options.blobs.get(keys)
        out = []
        for message_id, body, ttl, sealed in held.messages:
            if isinstance(body, BlobRef):
                if body.key not in texts:
                    continue
                text = texts[body.key]
                body, sealed = self._options.bodies.load(text), is_sealed(text)
            out.append((message_id, body, ttl, sealed))
        return dataclasses.replace(held, messages=out)

    @staticmethod
    def _live_claim(
        conn: Connection, project: str, queue: str, claim_id: str, now: int
    ) -> Row[Any]:
        missing = errors.ClaimDoesNotExist(f"Claim {claim_id} does not exist")
        if not ids.is_token(claim_id):
            raise missing
        row = find_queue(conn, project, queue)
        if row is None:
            raise missing
        stmt = sa.select(claims).where(
            claims.c.id == claim_id,
            claims.c.queue_id == row.id,
            claims.c.expires_at > now,
        )
        claim = conn.execute(stmt).first()
        if claim is None:
            find_queue(conn, project, queue)  # moved meanwhile?
            raise missing
        return claim
