"""Queues on SQL: rows of ``queues``; FIFO counters live here too."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from sqlqueue import errors
from sqlqueue.domain import namespaces
from sqlqueue.domain.documents import DOCUMENT_BYTES, encode_within
from sqlqueue.domain.models import MessageSummary, Page, QueueDepth, QueueInfo, QueueStats
from sqlqueue.domain.namespaces import QUEUES, Namespace
from sqlqueue.domain.policy import QueuePolicy
from sqlqueue.storage.base import Metadata, QueueController, QueueDepths, StorageOptions
from sqlqueue.storage.sql import blobrows, counters, hot, statements
from sqlqueue.storage.sql.database import Database, loads
from sqlqueue.storage.sql.rows import age_seconds
from sqlqueue.storage.sql.tables import claims, messages, queues

METADATA = "Queue metadata"
FIRST_MARKER = 1
"""The marker of a queue's first message; markers count posts from there."""


def insert_ignore(conn: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """Insert a row unless its unique key exists; True if inserted."""
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(values).on_conflict_do_nothing()
    else:
        stmt = sa.insert(table).values(values).prefix_with("IGNORE")
    return conn.execute(stmt).rowcount == 1


def find_queue(conn: Connection, project: str, name: str) -> Any:
    """The (id, meta, moved_to) row of a queue, or None.

    :raises QueueMoved: the row is the tombstone of a queue moved to another pool.
    """
    row = hot.execute(conn, statements.FIND_QUEUE, {"p_project": project, "p_name": name}).first()
    return here(row, name)


def here(row: Row[Any] | None, name: str) -> Row[Any] | None:
    """``row`` (of FIND_QUEUE, LOCK_QUEUE or a counter bump) unless it is a tombstone.

    Every statement that resolves a queue by name reads ``moved_to`` and
    passes its row through here, and every unit of work that found nothing
    to act on checks again (``find_queue``): a move may have committed while
    it waited, and "nothing here" must then become "go to the new pool".

    :raises QueueMoved: queue ``name`` lives in pool ``row.moved_to`` now.
    """
    if row is not None and row.moved_to is not None:
        raise errors.QueueMoved(row.moved_to, name)
    return row


def queue_metadata(row: Row[Any]) -> Metadata:
    """The decoded metadata of a queue row."""
    meta: Metadata = loads(row.meta)
    return meta


def lock_queue(conn: Connection, project: str, name: str, now: int) -> Row[Any]:
    """The (id, meta) row of a queue, locked until commit; created if missing.

    Serialises read-modify-writes of what hangs off a queue (its
    subscriptions), which no unique key protects.
    """
    params = {"p_project": project, "p_name": name}
    row = here(conn.execute(statements.LOCK_QUEUE, params).first(), name)
    if row is None:
        create_queue(conn, project, name, {}, now)
        row = conn.execute(statements.LOCK_QUEUE, params).one()
    return row


def create_queue(conn: Connection, project: str, name: str, meta: Metadata, now: int) -> bool:
    """Insert a queue row unless it exists; True if inserted."""
    values = {
        "project": project,
        "name": name,
        "meta": encode_within(meta, DOCUMENT_BYTES, METADATA),
        "next_marker": FIRST_MARKER,
        "created_at": now,
        "updated_at": now,
    }
    return insert_ignore(conn, queues, values)


class SqlQueueController(QueueController):
    """Queue controller over one database."""

    def __init__(self, db: Database, options: StorageOptions) -> None:
        self._db = db
        self._options = options

    def _accept(self, metadata: Metadata, stored: Metadata | None = None) -> Metadata:
        """Metadata this database can honour: turning encryption on needs a key.

        A queue whose ``stored`` metadata already encrypts keeps its flag
        through a PATCH of other keys, key or no key (its posts answer 503
        until a key is configured again).

        :raises EncryptionUnavailable: ``_enable_encrypt_messages`` without a key.
        :raises BlobStoreMissing: ``_blob_threshold`` without a blob store.
        """
        if (
            QueuePolicy.of(metadata).encrypt_messages
            and not self._options.bodies.can_encrypt
            and not QueuePolicy.of(stored).encrypt_messages
        ):
            raise errors.EncryptionUnavailable(
                "Message encryption (_enable_encrypt_messages) needs an encryption key, "
                "and this server has none configured (encryption_keys)."
            )
        if QueuePolicy.of(metadata).blob_threshold is not None and self._options.blobs is None:
            raise errors.BlobStoreMissing(
                "Routing big bodies (_blob_threshold) needs a blob store, "
                "and this server has none configured (blob_store)."
            )
        return metadata

    def create(self, project: str, name: str, metadata: Metadata | None = None) -> bool:
        now = self._db.now_ms()
        meta = self._accept(metadata or {})

        def work(conn: Connection) -> bool:
            if create_queue(conn, project, name, meta, now):
                return True
            find_queue(conn, project, name)  # a tombstone: create it where it went
            return False

        return self._db.run(work)

    def exists(self, project: str, name: str) -> bool:
        return self._db.run(lambda c: find_queue(c, project, name) is not None, write=False)

    def get_metadata(self, project: str, name: str) -> Metadata:
        row = self._db.run(lambda c: find_queue(c, project, name), write=False)
        if row is None:
            raise errors.QueueDoesNotExist(f"{namespaces.label(name)} does not exist")
        return queue_metadata(row)

    def set_metadata(self, project: str, name: str, metadata: Metadata) -> None:
        stmt = (
            sa.update(queues)
            .where(queues.c.project == project, queues.c.name == name, queues.c.moved_to.is_(None))
            .values(
                meta=encode_within(self._accept(metadata), DOCUMENT_BYTES, METADATA),
                updated_at=self._db.now_ms(),
            )
        )

        def work(conn: Connection) -> int:
            changed = int(conn.execute(stmt).rowcount)
            if not changed:
                find_queue(conn, project, name)  # moved?
            return changed

        if self._db.run(work) == 0:
            raise errors.QueueDoesNotExist(f"{namespaces.label(name)} does not exist")

    def update_metadata(
        self, project: str, name: str, change: Callable[[Metadata], Metadata]
    ) -> Metadata:
        def work(conn: Connection) -> Metadata:
            params = {"p_project": project, "p_name": name}
            row = here(conn.execute(statements.LOCK_QUEUE, params).first(), name)
            if row is None:
                raise errors.QueueDoesNotExist(f"{namespaces.label(name)} does not exist")
            before = queue_metadata(row)
            metadata = self._accept(change(before), before)
            stored = encode_within(metadata, DOCUMENT_BYTES, METADATA)
            update = {"p_id": row.id, "p_meta": stored, "p_now": self._db.now_ms()}
            conn.execute(statements.SET_META, update)
            return metadata

        return self._db.run(work)

    def delete(self, project: str, name: str) -> None:
        blobs = self._options.blobs

        def work(conn: Connection) -> list[str]:
            row = find_queue(conn, project, name)
            if row is None:
                return []
            found = blobrows.queue_pointers(conn, row.id) if blobs is not None else []
            conn.execute(sa.delete(messages).where(messages.c.queue_id == row.id))
            conn.execute(sa.delete(claims).where(claims.c.queue_id == row.id))
            counters.forget(conn, row.id)
            conn.execute(sa.delete(queues).where(queues.c.id == row.id))
            return found

        blobrows.discard_deleted(self._db, blobs, self._db.run(work))

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
        limit = limit or self._options.default_queue_page
        where = [
            queues.c.project == project,
            queues.c.moved_to.is_(None),
            queues.c.name < namespace.end,
        ]
        if namespace.mark:
            where.append(queues.c.name >= namespace.mark)
        if name:
            named: Any = queues.c.name
            if namespace.mark:  # match the name, not the key's mark
                named = sa.func.substr(queues.c.name, len(namespace.mark) + 1)
            where.append(named.contains(name, autoescape=True))
        stmt = sa.select(queues.c.name, queues.c.meta).where(*where).order_by(queues.c.name)

        def work(conn: Connection) -> Page[QueueInfo]:
            found = _scan(conn, stmt, marker, limit, filters or {})
            items = [QueueInfo(row.name, loads(row.meta) if detailed else None) for row in found]
            count = _count(conn, where, filters or {}) if with_count else None
            return Page(items, items[-1].name if items else None, count)

        return self._db.run(work, write=False)

    def projects(self, namespace: Namespace = QUEUES) -> dict[str, int]:
        where = [queues.c.name < namespace.end, queues.c.moved_to.is_(None)]
        if namespace.mark:
            where.append(queues.c.name >= namespace.mark)
        stmt = sa.select(queues.c.project, sa.func.count()).where(*where)
        stmt = stmt.group_by(queues.c.project)
        found = self._db.run(lambda c: c.execute(stmt).all(), write=False)
        return {str(project): int(count) for project, count in found}

    def stats(self, project: str, name: str) -> QueueStats:
        return self._db.run(lambda c: queue_stats(c, project, name, self._db.now_ms()), write=False)

    def deepest(self, limit: int) -> QueueDepths:
        found = self._db.run(lambda c: counters.deepest(c, limit), write=False)
        return [QueueDepth(row.project, row.name, max(0, int(row.rows))) for row in found]


def _matches(meta_text: str, filters: Mapping[str, Any]) -> bool:
    if not filters:
        return True
    meta = loads(meta_text)
    return all(meta.get(key) == value for key, value in filters.items())


def _scan(
    conn: Connection,
    stmt: sa.Select[Any],
    marker: str | None,
    limit: int,
    filters: Mapping[str, Any],
) -> list[Row[Any]]:
    """Rows after ``marker`` that pass the metadata filters, up to ``limit``."""
    found: list[Row[Any]] = []
    batch = limit if not filters else max(limit, 100)
    while len(found) < limit:
        page_stmt = stmt.limit(batch)
        if marker is not None:
            page_stmt = page_stmt.where(queues.c.name > marker)
        rows = conn.execute(page_stmt).all()
        found.extend(row for row in rows if _matches(row.meta, filters))
        if len(rows) < batch:
            break
        marker = rows[-1].name
    return found[:limit]


def _count(conn: Connection, where: list[Any], filters: Mapping[str, Any]) -> int:
    if not filters:
        return int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
    rows = conn.execute(sa.select(queues.c.meta).where(*where))
    return sum(1 for row in rows if _matches(row.meta, filters))


def queue_stats(conn: Connection, project: str, name: str, now: int) -> QueueStats:
    """Exact counts in time independent of the queue's depth (storage/sql/counters.py).

    One statement reads the queue's row counters, its expired rows not yet
    collected and its claimed rows; two more read the first and last live
    messages over the (queue_id, marker) index.
    """
    row = here(counters.counts(conn, project, name, now), name)
    if row is None:
        return QueueStats(0, 0, 0)
    posted = int(row.next_marker) - FIRST_MARKER
    total = int(row.message_rows) + int(row.delta) - int(row.expired)
    if total <= 0:
        return QueueStats(0, 0, 0, posted=posted)
    claimed = int(row.claimed)
    params = {"p_queue": row.id, "p_now": now}
    return QueueStats(
        free=total - claimed,
        claimed=claimed,
        total=total,
        oldest=_edge(conn, statements.OLDEST, params, now),
        newest=_edge(conn, statements.NEWEST, params, now),
        posted=posted,
    )


def _edge(
    conn: Connection, stmt: sa.Select[Any], params: dict[str, int], now: int
) -> MessageSummary | None:
    row = hot.execute(conn, stmt, params).first()
    if row is None:
        return None
    return MessageSummary(str(row.id), age_seconds(now, row.created_at), row.created_at / 1000)
