"""Messages on SQL, FIFO by a per-queue counter bumped while posting."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlqueue import errors
from sqlqueue.domain import ids, namespaces
from sqlqueue.domain.documents import DOCUMENT_BYTES, encode_within
from sqlqueue.domain.models import Message, NewMessage, Page
from sqlqueue.domain.policy import QueuePolicy
from sqlqueue.observe.metrics import MESSAGES_DELETED, MESSAGES_POSTED
from sqlqueue.storage.base import MessageController, Messages, Metadata, StorageOptions
from sqlqueue.storage.blobs import discard, refs_of, resolve
from sqlqueue.storage.sql import blobrows, counters, deliveries, hot, rows, statements, tally
from sqlqueue.storage.sql.blobposts import BlobRouter
from sqlqueue.storage.sql.database import Database, loads
from sqlqueue.storage.sql.queues import create_queue, find_queue, here
from sqlqueue.storage.sql.tables import messages
from sqlqueue.storage.sql.wakeups import CHANNEL, SqlWakeups, notify_payload


class Reserved(NamedTuple):
    """What reserving markers learnt about the queue."""

    queue_id: int
    meta: Metadata
    first: int
    notify_until: int | None
    """The queue's subscription hint (``queues.notify_until``)."""


def reserve_markers(
    conn: Connection, project: str, name: str, count: int, now: int, *, rows: int | None = None
) -> tuple[int, Metadata, int]:
    """Bump the queue's counter by ``count``; returns (queue id, meta, first marker)."""
    found = reserve(conn, project, name, count, now, rows=rows)
    return found.queue_id, found.meta, found.first


def reserve(
    conn: Connection, project: str, name: str, count: int, now: int, *, rows: int | None = None
) -> Reserved:
    """Bump the queue's counter by ``count``.

    The same statement counts ``rows`` (default ``count``) message rows more
    for stats: pass 0 when the rows are inserted by another transaction.

    The bump locks the queue row until commit, so producers of one queue
    commit in marker order and a reader paging by marker never skips a
    message that commits late. The queue is created if it does not exist.
    """
    for _ in range(3):
        found = _bump(conn, project, name, count, now, count if rows is None else rows)
        if found is not None:
            return found
        create_queue(conn, project, name, {}, now)
    raise errors.MessageConflict("No messages could be enqueued.")


def _bump(
    conn: Connection, project: str, name: str, count: int, now: int, added: int
) -> Reserved | None:
    params = {"p_project": project, "p_name": name, "p_now": now, "p_rows": added}
    if conn.dialect.update_returning:
        bump: sa.Update = statements.BUMP_RETURNING
        if conn.dialect.name == "postgresql":
            wake = {"p_channel": CHANNEL, "p_key": notify_payload(project, name, count)}
            bump, params = statements.BUMP_RETURNING_NOTIFY, {**params, **wake}
        row = here(hot.execute(conn, bump, {**params, "p_count": count}).first(), name)
        if row is None:
            return None
        return Reserved(row.id, loads(row.meta), row.next_marker - count, row.notify_until)
    row = here(hot.execute(conn, statements.LOCK_COUNTER, params).first(), name)
    if row is None:
        return None
    counter = {"p_id": row.id, "p_next": row.next_marker + count, "p_now": now, "p_rows": added}
    hot.execute(conn, statements.SET_COUNTER, counter)
    return Reserved(row.id, loads(row.meta), row.next_marker, row.notify_until)


def check_post_size(meta: Metadata, size: int) -> None:
    """Refuse a post larger than the queue's ``_max_messages_post_size``."""
    cap = QueuePolicy.of(meta).max_messages_post_size
    if cap is not None and 0 < cap < size:
        raise errors.ValidationFailed(
            f"Message collection size is too large. Max size for this queue: {cap}"
        )


def new_rows(
    queue_id: int,
    first: int,
    batch: Sequence[NewMessage],
    meta: Metadata,
    client_id: str,
    now: int,
    default_ttl: int,
    bodies: Sequence[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Column values of a posted batch, with the queue's defaults applied: one tuple
    per message, in ``statements.INSERT_COLUMNS`` order.

    ``bodies``: the stored text of each message body (from ``encode_bodies``),
    encoded here when absent. PERF: tuples, flattened into the INSERT's
    parameters as they are, instead of a dict per row flattened by a
    generator: with the answer's path built once, 120k instructions less
    for a ten-message post (valgrind).
    """
    texts = encode_bodies(batch) if bodies is None else bodies
    policy = QueuePolicy.of(meta)
    ttl_default = policy.default_message_ttl or default_ttl
    delay_default = policy.default_message_delay
    out = []
    for offset, msg in enumerate(batch):
        ttl = msg.ttl if msg.ttl is not None else ttl_default
        delay = (msg.delay if msg.delay is not None else delay_default) if delay_default else 0
        out.append(
            (
                queue_id,  # queue_id
                first + offset,  # marker
                texts[offset],  # body
                client_id,  # client_id
                ttl,  # ttl
                now,  # created_at
                now + ttl * 1000,  # expires_at
                now + delay * 1000,  # delay_until
                None,  # claim_id
                0,  # claim_expires
                0,  # claim_count
            )
        )
    return out


def encode_bodies(batch: Sequence[NewMessage]) -> list[str]:
    """The stored text of each body. :raises ValidationFailed: one is too large."""
    return [encode_within(msg.body, DOCUMENT_BYTES, "A message body") for msg in batch]


def insert_rows(conn: Connection, values: list[tuple[Any, ...]]) -> list[str]:
    """Insert message rows (``new_rows``); their public ids in input (marker) order."""
    if conn.dialect.insert_executemany_returning:
        found: list[Any] = []
        for start in range(0, len(values), statements.ROWS_PER_INSERT):
            chunk = values[start : start + statements.ROWS_PER_INSERT]
            sql = statements.insert_returning_sql(conn.dialect.paramstyle, len(chunk))
            found += hot.execute_sql(conn, sql, tuple(chain.from_iterable(chunk))).rows
        return [ids.message_id(row.id) for row in sorted(found, key=lambda row: row.marker)]
    columns = statements.INSERT_COLUMNS
    conn.execute(statements.INSERT, [dict(zip(columns, row, strict=True)) for row in values])
    queue_id, first, last = values[0][0], values[0][1], values[-1][1]
    query = (
        sa.select(messages.c.id)
        .where(messages.c.queue_id == queue_id)
        .where(messages.c.marker.between(first, last))
        .order_by(messages.c.marker)
    )
    return [ids.message_id(key) for key in conn.execute(query).scalars()]


def _notify(conn: Connection, project: str, queue: str, posted: list[str]) -> list[str]:
    """Send a post's NOTIFY with its insert (PostgreSQL; the FIFO bump sends its own)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            statements.NOTIFY,
            {"p_channel": CHANNEL, "p_key": notify_payload(project, queue, len(posted))},
        )
    return posted


class SqlMessageController(MessageController):
    """Message controller over one database."""

    def __init__(self, db: Database, options: StorageOptions, wakeups: SqlWakeups) -> None:
        self._db = db
        self._options = options
        self._wakeups = wakeups
        self._router = BlobRouter(db, options)

    def _resolve(self, found: Sequence[Message]) -> list[Message]:
        """``found`` with the bodies kept in the blob store (storage/blobs.py)."""
        return resolve(found, self._options.blobs, self._options.bodies)

    def post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        client_id: str,
        *,
        size: int = 0,
    ) -> list[str]:
        if not messages:
            return []
        now = self._db.now_ms()
        bodies = encode_bodies(messages)  # before any transaction: a refusal writes nothing
        # NOTE: a failed post leaves its blobs to gc: a commit whose answer was
        # lost may have written the rows, and a body must never go before its row.
        stored, _written = self._router.route(project, queue, messages, bodies, now)
        return self._post(project, queue, messages, client_id, size, stored, now)

    def _post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        client_id: str,
        size: int,
        bodies: Sequence[str],
        now: int,
    ) -> list[str]:
        default_ttl = self._options.default_message_ttl
        confirmed_only = self._options.require_confirmation
        count = len(messages)

        def insert(conn: Connection, reserved: Reserved) -> list[str]:
            check_post_size(reserved.meta, size)
            values = new_rows(
                reserved.queue_id,
                reserved.first,
                messages,
                reserved.meta,
                client_id,
                now,
                default_ttl,
                self._stored(bodies, reserved.meta, any(m.sealed for m in messages)),
            )
            posted = insert_rows(conn, values)
            deliveries.enqueue_posted(
                conn,
                project=project,
                queue=queue,
                queue_id=reserved.queue_id,
                markers=(reserved.first, reserved.first + count - 1),
                hint=reserved.notify_until,
                now=now,
                confirmed_only=confirmed_only,
            )
            return posted

        if not self._options.fifo:
            reserved = self._db.run(lambda c: reserve(c, project, queue, count, now, rows=0))

            def insert_counted(conn: Connection) -> list[str]:
                counters.add(conn, reserved.queue_id, count)
                return _notify(conn, project, queue, insert(conn, reserved))

            posted = self._db.run(insert_counted)
        else:
            posted = self._db.run(lambda c: insert(c, reserve(c, project, queue, count, now)))
        MESSAGES_POSTED.inc(len(posted))
        self._wakeups.posted(project, queue, count)
        return posted

    def _stored(self, bodies: Sequence[str], meta: Metadata, sealed: bool) -> Sequence[str]:
        """The stored texts of a batch: sealed if the queue encrypts its messages
        (or the batch is ``sealed``: dead letters that were).

        Sealed in the posting transaction, under the queue row's lock, because
        only the locked row tells whether the queue encrypts (about 10 us a body).
        """
        encrypt = sealed or QueuePolicy.of(meta).encrypt_messages
        return self._options.bodies.store(bodies, encrypt=encrypt)

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
        after = ids.marker_value(marker)
        if after is None:
            return Page([])
        limit = limit or self._options.default_message_page
        now = self._db.now_ms()

        def work(conn: Connection) -> Page[Message]:
            row = find_queue(conn, project, queue)
            if row is None:
                return Page([])
            meta = loads(row.meta)
            where = rows.live(row.id, now)
            if not include_claimed:
                where = rows.available(row.id, now, meta, include_delayed)
            elif QueuePolicy.of(meta).default_message_delay and not include_delayed:
                where.append(messages.c.delay_until <= now)
            if not echo and client_id is not None:
                where.append(messages.c.client_id != client_id)
            where.append(messages.c.marker > after)
            stmt = rows.select_messages(*where).order_by(messages.c.marker).limit(limit)
            found = [rows.to_message(r, now, self._options.bodies) for r in conn.execute(stmt)]
            if not found:
                find_queue(conn, project, queue)  # moved meanwhile?
            return Page(found, str(found[-1].marker) if found else None)

        page = self._db.run(work, write=False)
        return Page(self._resolve(page.items), page.next_marker) if page.items else page

    def get(self, project: str, queue: str, message_id: str) -> Message:
        found = self.bulk_get(project, queue, [message_id])
        if not found:
            raise errors.MessageDoesNotExist(f"Message {message_id} does not exist")
        return found[0]

    def bulk_get(self, project: str, queue: str, message_ids: Sequence[str]) -> Messages:
        keys = _keys(message_ids)
        if not keys:
            return []
        now = self._db.now_ms()

        def work(conn: Connection) -> list[Message]:
            row = find_queue(conn, project, queue)
            if row is None:
                return []
            stmt = rows.select_messages(*rows.live(row.id, now), messages.c.id.in_(keys))
            found = conn.execute(stmt.order_by(messages.c.marker)).all()
            if not found:
                find_queue(conn, project, queue)  # moved meanwhile?
            return [rows.to_message(r, now, self._options.bodies) for r in found]

        return self._resolve(self._db.run(work, write=False))

    def delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None = None
    ) -> None:
        if claim_id is not None and not ids.is_token(claim_id):
            raise errors.ClaimDoesNotExist(f"Claim {claim_id} does not exist")
        key = ids.message_key(message_id)
        if key is None:
            return
        now = self._db.now_ms()
        if self._options.blobs is None:
            self._db.run_alone(lambda conn: _delete_one(conn, project, queue, key, claim_id, now))
            return
        found, checked = self._db.run_alone(
            lambda conn: _delete_one_blob(conn, project, queue, key, claim_id, now)
        )
        if checked:
            discard(self._options.blobs, found)
        else:
            self._discard(found)

    def _discard(self, keys: Sequence[str]) -> None:
        """Delete the blobs of deleted rows (see ``blobrows.discard_deleted``)."""
        blobrows.discard_deleted(self._db, self._options.blobs, keys)

    def bulk_delete(
        self,
        project: str,
        queue: str,
        message_ids: Sequence[str],
        claim_ids: Sequence[str] | None = None,
    ) -> None:
        keys = _keys(message_ids)
        if not keys:
            return
        now = self._db.now_ms()
        blobs = self._options.blobs is not None

        def work(conn: Connection) -> list[str]:
            row = find_queue(conn, project, queue)
            if row is None:
                return []
            deleted, found = _delete_keys(conn, row.id, keys, claim_ids, now, blobs=blobs)
            if not deleted:
                find_queue(conn, project, queue)  # moved while we waited for the rows?
            counters.add(conn, row.id, -deleted)
            tally.count(conn, MESSAGES_DELETED, deleted)
            return found

        self._discard(self._db.run(work))

    def pop(self, project: str, queue: str, limit: int) -> Messages:
        now = self._db.now_ms()

        def work(conn: Connection) -> tuple[list[Message], list[str]]:
            row = find_queue(conn, project, queue)
            if row is None:
                return [], []
            where = rows.available(row.id, now, loads(row.meta))
            query = rows.select_messages(*where).order_by(messages.c.marker).limit(limit)
            found = conn.execute(self._db.select_for_update(query)).all()
            if found:
                keys = [r.id for r in found]
                conn.execute(sa.delete(messages).where(messages.c.id.in_(keys)))
                counters.add(conn, row.id, -len(keys))
                tally.count(conn, MESSAGES_DELETED, len(keys))
            else:
                find_queue(conn, project, queue)  # moved meanwhile?
            popped = [rows.to_message(r, now, self._options.bodies) for r in found]
            # NOTE: blobs fetched before the rows' delete commits: a blob store that
            # fails then rolls the pop back, instead of losing the popped bodies.
            return self._resolve(popped), refs_of(popped)

        popped, blobs = self._db.run(work)
        self._discard(blobs)
        return popped

    def blob_refs(self, project: str, queue: str, keys: Sequence[str]) -> dict[str, int]:
        now = self._db.now_ms()

        def work(conn: Connection) -> dict[str, int]:
            row = find_queue(conn, project, queue)
            found: dict[str, int] = {}
            if row is not None:
                found = blobrows.referenced(conn, (project, queue, row), keys, now)
            return found

        return self._db.run(work, write=False) if keys else {}

    def first(self, project: str, queue: str, sort: int = 1) -> Message:
        if sort not in (1, -1):
            raise ValueError("sort must be 1 or -1")
        now = self._db.now_ms()
        order = messages.c.marker.asc() if sort == 1 else messages.c.marker.desc()

        def work(conn: Connection) -> Message | None:
            row = find_queue(conn, project, queue)
            if row is None:
                return None
            stmt = rows.select_messages(*rows.live(row.id, now)).order_by(order).limit(1)
            found = conn.execute(stmt).first()
            if found is None:
                find_queue(conn, project, queue)  # moved meanwhile?
                return None
            return rows.to_message(found, now, self._options.bodies)

        message = self._db.run(work, write=False)
        if message is not None:
            message = next(iter(self._resolve([message])), None)
        if message is None:
            raise errors.QueueIsEmpty(f"{namespaces.label(queue)} is empty")
        return message


def _keys(message_ids: Sequence[str]) -> list[int]:
    keys = (ids.message_key(mid) for mid in message_ids)
    return sorted({key for key in keys if key is not None})


def _delete_one(
    conn: Connection, project: str, queue: str, key: int, claim_id: str | None, now: int
) -> None:
    """Delete one message under the claim rules, and count it; one statement on PostgreSQL."""
    params = {"p_project": project, "p_name": queue, "p_key": key, "p_now": now}
    if claim_id is not None:
        params["p_claim"] = claim_id
    if conn.dialect.name == "postgresql":
        counted = statements.DELETE_UNCLAIMED_COUNTED
        if claim_id is not None:
            counted = statements.DELETE_CLAIMED_COUNTED
        params["p_shard"] = counters.shard()
        deleted = hot.execute(conn, counted, params).rowcount
    else:
        stmt = statements.DELETE_UNCLAIMED if claim_id is None else statements.DELETE_CLAIMED
        deleted = hot.execute(conn, stmt, params).rowcount
        counters.add_named(conn, project, queue, -deleted)
    if not deleted:
        _refuse(conn, project, queue, key, claim_id, now)
    tally.count(conn, MESSAGES_DELETED, deleted)


def _refuse(
    conn: Connection, project: str, queue: str, key: int, claim_id: str | None, now: int
) -> None:
    """Say why a message could not be deleted (silent if it is gone)."""
    row = find_queue(conn, project, queue)
    if row is None:
        return
    state = conn.execute(
        sa.select(messages.c.claim_expires, messages.c.expires_at).where(
            messages.c.id == key, messages.c.queue_id == row.id
        )
    ).first()
    if state is None or state.expires_at <= now:
        return
    if claim_id is None:
        raise errors.MessageIsClaimed(f"Message {key} is claimed")
    if state.claim_expires <= now:
        raise errors.MessageNotClaimed(f"Message {key} is not claimed")
    raise errors.MessageNotClaimedBy(f"Message {key} is claimed by another claim")


def _delete_one_blob(
    conn: Connection, project: str, queue: str, key: int, claim_id: str | None, now: int
) -> tuple[list[str], bool]:
    """``_delete_one`` that also returns the deleted row's blob key (if its body is one),
    and whether pending notifications were looked at already (PostgreSQL: the same
    statement says so, and leaves out a key one carries)."""
    params = {"p_project": project, "p_name": queue, "p_key": key, "p_now": now}
    if claim_id is not None:
        params["p_claim"] = claim_id
    stmt: Any
    checked = conn.dialect.name == "postgresql"
    if checked:
        stmt = blobrows.DELETE_UNCLAIMED_COUNTED
        if claim_id is not None:
            stmt = blobrows.DELETE_CLAIMED_COUNTED
        done = hot.execute(conn, stmt, {**params, "p_shard": counters.shard()}).rows
        deleted, found = len(done), blobrows.unnotified(done)
    elif conn.dialect.delete_returning:
        stmt = blobrows.DELETE_UNCLAIMED if claim_id is None else blobrows.DELETE_CLAIMED
        deleted, found = blobrows.run_delete(conn, stmt, params)
        counters.add_named(conn, project, queue, -deleted)
    else:
        stmt = statements.DELETE_UNCLAIMED if claim_id is None else statements.DELETE_CLAIMED
        found = blobrows.read_pointers(conn, stmt, params)
        deleted = hot.execute(conn, stmt, params).rowcount
        counters.add_named(conn, project, queue, -deleted)
    if not deleted:
        _refuse(conn, project, queue, key, claim_id, now)
    tally.count(conn, MESSAGES_DELETED, deleted)
    return found, checked


def _delete_keys(
    conn: Connection,
    queue_id: int,
    keys: list[int],
    claim_ids: Sequence[str] | None,
    now: int,
    *,
    blobs: bool,
) -> tuple[int, list[str]]:
    """Delete messages ``keys`` of a queue (held by ``claim_ids`` if given); (count, blob keys)."""
    if claim_ids is not None and not claim_ids:
        return 0, []  # held by none of no claims
    params: dict[str, Any] = statements.key_params(keys)
    params["p_queue"] = queue_id
    stmt: Any
    if claim_ids is None:
        stmt = statements.delete_keys(len(keys))
    else:
        held = sorted(set(claim_ids))
        stmt = statements.delete_keys_held(len(keys), len(held))
        params.update(statements.held_params(held), p_now=now)
    if not blobs:
        return hot.execute(conn, stmt, params).rowcount, []
    if conn.dialect.delete_returning:
        done = conn.execute(stmt.returning(blobrows.POINTER), params).all()
        return len(done), blobrows.pointers(done)
    found = blobrows.read_pointers(conn, stmt, params)
    return conn.execute(stmt, params).rowcount, found
