"""Subscriptions on SQL, stored per project and source queue name."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sqlqueue import errors
from sqlqueue.domain import ids
from sqlqueue.domain.documents import TEXT_BYTES, encode_within
from sqlqueue.domain.models import DeliveryStats, Page, Subscription
from sqlqueue.storage.base import Metadata, StorageOptions, SubscriptionController
from sqlqueue.storage.sql import deliveries, rows
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.queues import find_queue, lock_queue
from sqlqueue.storage.sql.tables import subscriptions as subs

OPTIONS = "Subscription options"


class SqlSubscriptionController(SubscriptionController):
    """Subscription controller over one database."""

    def __init__(self, db: Database, options: StorageOptions) -> None:
        self._db = db
        self._options = options

    def _read(self, project: str, queue: str, stmt: sa.Select[Any]) -> list[Any]:
        """The rows of ``stmt``; when none, whether the queue moved away (QueueMoved)."""

        def work(conn: Connection) -> list[Any]:
            found = conn.execute(stmt).all()
            if not found:
                find_queue(conn, project, queue)
            return list(found)

        return self._db.run(work, write=False)

    def _scope(self, project: str, queue: str, now: int) -> list[Any]:
        return [
            subs.c.project == project,
            subs.c.source == queue,
            subs.c.expires_at > now,
        ]

    def list(
        self,
        project: str,
        queue: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
    ) -> Page[Subscription]:
        now = self._db.now_ms()
        stmt = sa.select(subs).where(*self._scope(project, queue, now))
        if marker:
            stmt = stmt.where(subs.c.id > marker)
        stmt = stmt.order_by(subs.c.id).limit(limit or self._options.default_queue_page)
        found = [rows.to_subscription(r, now) for r in self._read(project, queue, stmt)]
        return Page(found, found[-1].id if found else None)

    def get(self, project: str, queue: str, subscription_id: str) -> Subscription:
        now = self._db.now_ms()
        stmt = sa.select(subs).where(
            *self._scope(project, queue, now), subs.c.id == subscription_id
        )
        found = self._read(project, queue, stmt)
        if not found:
            raise errors.SubscriptionDoesNotExist(f"Subscription {subscription_id} does not exist")
        return rows.to_subscription(found[0], now)

    def find(self, project: str, queue: str, subscriber: str) -> Subscription | None:
        now = self._db.now_ms()
        stmt = sa.select(subs).where(
            *self._scope(project, queue, now), subs.c.subscriber == subscriber
        )
        found = self._read(project, queue, stmt.limit(1))
        return rows.to_subscription(found[0], now) if found else None

    def create(
        self, project: str, queue: str, subscriber: str, ttl: int, options: Metadata
    ) -> str | None:
        stored_options = encode_within(options, TEXT_BYTES, OPTIONS)
        now = self._db.now_ms()
        new_id = ids.new_ordered_token(now)

        def work(conn: Connection) -> str | None:
            lock_queue(conn, project, queue, now)  # no two creates check at once
            taken = sa.select(subs.c.id).where(
                *self._scope(project, queue, now), subs.c.subscriber == subscriber
            )
            if conn.execute(taken).first() is not None:
                return None
            conn.execute(
                sa.insert(subs).values(
                    id=new_id,
                    project=project,
                    source=queue,
                    subscriber=subscriber,
                    ttl=ttl,
                    options=stored_options,
                    confirmed=False,
                    created_at=now,
                    expires_at=now + ttl * 1000,
                )
            )
            deliveries.raise_hint(conn, project, queue, now + ttl * 1000)
            if self._options.require_confirmation:
                deliveries.enqueue_notice(conn, project, queue, new_id, deliveries.CONFIRM, now)
            return new_id

        return self._db.run(work)

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
        stored_options = None if options is None else encode_within(options, TEXT_BYTES, OPTIONS)
        now = self._db.now_ms()

        def work(conn: Connection) -> None:
            lock_queue(conn, project, queue, now)  # no two updates check the subscriber at once
            scope = self._scope(project, queue, now)
            row = conn.execute(sa.select(subs).where(*scope, subs.c.id == subscription_id)).first()
            if row is None:
                raise errors.SubscriptionDoesNotExist(
                    f"Subscription {subscription_id} does not exist"
                )
            values: dict[str, Any] = {}
            if subscriber is not None and subscriber != row.subscriber:
                clash = sa.select(subs.c.id).where(*scope, subs.c.subscriber == subscriber)
                if conn.execute(clash).first() is not None:
                    raise errors.SubscriptionAlreadyExists(
                        f"Subscriber {subscriber} already subscribed"
                    )
                values["subscriber"] = subscriber
            if ttl is not None:
                values.update(ttl=ttl, expires_at=now + ttl * 1000)
                deliveries.raise_hint(conn, project, queue, now + ttl * 1000)
            if stored_options is not None:
                values["options"] = stored_options
            if values:
                conn.execute(sa.update(subs).where(subs.c.id == subscription_id).values(values))

        self._db.run(work)

    def delete(self, project: str, queue: str, subscription_id: str) -> None:
        stmt = sa.delete(subs).where(
            subs.c.project == project,
            subs.c.source == queue,
            subs.c.id == subscription_id,
        )

        def work(conn: Connection) -> None:
            if not conn.execute(stmt).rowcount:
                find_queue(conn, project, queue)  # moved meanwhile?

        self._db.run(work)

    def confirm(self, project: str, queue: str, subscription_id: str, confirmed: bool) -> None:
        now = self._db.now_ms()
        stmt = (
            sa.update(subs)
            .where(*self._scope(project, queue, now), subs.c.id == subscription_id)
            .values(confirmed=confirmed)
        )

        def work(conn: Connection) -> int:
            changed = conn.execute(stmt).rowcount
            if not changed:
                find_queue(conn, project, queue)  # moved meanwhile?
            if changed and not confirmed and self._options.require_confirmation:
                deliveries.enqueue_notice(
                    conn, project, queue, subscription_id, deliveries.UNCONFIRM, now
                )
            return int(changed)

        if self._db.run(work) == 0:
            raise errors.SubscriptionDoesNotExist(f"Subscription {subscription_id} does not exist")

    def request_confirmation(self, project: str, queue: str, subscription_id: str) -> None:
        if not self._options.require_confirmation:
            return
        now = self._db.now_ms()
        self._db.run(
            lambda c: deliveries.enqueue_notice(
                c, project, queue, subscription_id, deliveries.CONFIRM, now
            )
        )

    def delivery_stats(self, project: str, queue: str, subscription_id: str) -> DeliveryStats:
        return self._db.run(
            lambda c: deliveries.subscription_stats(c, subscription_id), write=False
        )
