"""The data-plane controllers of the pooled driver: each call goes to the queue's pool.

Calls that may create a queue (queue create, message post, subscription
create) place an unplaced queue first; every other call goes to the pool
the queue is placed on, or to the default driver (which answers as for a
missing queue, or serves a queue created before pooling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlqueue.domain.models import Claim, Message, NewMessage, Page, QueueInfo, QueueStats
from sqlqueue.domain.models import Subscription as Sub
from sqlqueue.storage.base import (
    ClaimController,
    DataDriver,
    MessageController,
    Messages,
    Metadata,
    QueueController,
    SubscriptionController,
)
from sqlqueue.storage.pooling.listing import QueueLister
from sqlqueue.storage.pooling.routing import Router

FLAVOR_KEY = "_flavor"
DLQ_KEY = "_dead_letter_queue"


class _Routed:
    def __init__(self, router: Router) -> None:
        self._router = router

    def _at(self, project: str, queue: str) -> DataDriver:
        return self._router.lookup(project, queue)


class PooledQueueController(_Routed, QueueController):
    """Queues placed on pools; listing merges every pool by name."""

    def __init__(self, router: Router, page_size: int) -> None:
        super().__init__(router)
        self._lister = QueueLister(router)
        self._page_size = page_size

    def create(self, project: str, name: str, metadata: Metadata | None = None) -> bool:
        flavor = (metadata or {}).get(FLAVOR_KEY)
        where = self._router.place(project, name, flavor if isinstance(flavor, str) else None)
        self._colocate_dead_letters(project, name, metadata or {})
        return where.queues.create(project, name, metadata)

    def exists(self, project: str, name: str) -> bool:
        return self._at(project, name).queues.exists(project, name)

    def get_metadata(self, project: str, name: str) -> Metadata:
        return self._at(project, name).queues.get_metadata(project, name)

    def set_metadata(self, project: str, name: str, metadata: Metadata) -> None:
        # NOTE: a changed _flavor does not move the queue (messages would be lost).
        where = self._at(project, name)
        self._colocate_dead_letters(project, name, metadata)
        where.queues.set_metadata(project, name, metadata)

    def delete(self, project: str, name: str) -> None:
        self._at(project, name).queues.delete(project, name)
        self._router.unplace(project, name)

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
    ) -> Page[QueueInfo]:
        return self._lister.page(
            project,
            marker=marker,
            limit=limit or self._page_size,
            detailed=detailed,
            name=name,
            filters=filters or {},
            with_count=with_count,
        )

    def stats(self, project: str, name: str) -> QueueStats:
        return self._at(project, name).queues.stats(project, name)

    def _colocate_dead_letters(self, project: str, name: str, metadata: Metadata) -> None:
        dead_letters = metadata.get(DLQ_KEY)
        if isinstance(dead_letters, str) and dead_letters and dead_letters != name:
            self._router.colocate(project, dead_letters, name)


class PooledMessageController(_Routed, MessageController):
    """Messages in the pool of their queue."""

    def post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        client_id: str,
        *,
        size: int = 0,
    ) -> list[str]:
        where = self._router.place(project, queue)
        return where.messages.post(project, queue, messages, client_id, size=size)

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
        return self._at(project, queue).messages.list(
            project,
            queue,
            marker=marker,
            limit=limit,
            echo=echo,
            client_id=client_id,
            include_claimed=include_claimed,
            include_delayed=include_delayed,
        )

    def get(self, project: str, queue: str, message_id: str) -> Message:
        return self._at(project, queue).messages.get(project, queue, message_id)

    def bulk_get(self, project: str, queue: str, message_ids: Sequence[str]) -> Messages:
        return self._at(project, queue).messages.bulk_get(project, queue, message_ids)

    def delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None = None
    ) -> None:
        self._at(project, queue).messages.delete(project, queue, message_id, claim_id)

    def bulk_delete(
        self,
        project: str,
        queue: str,
        message_ids: Sequence[str],
        claim_ids: Sequence[str] | None = None,
    ) -> None:
        self._at(project, queue).messages.bulk_delete(project, queue, message_ids, claim_ids)

    def pop(self, project: str, queue: str, limit: int) -> Messages:
        return self._at(project, queue).messages.pop(project, queue, limit)

    def first(self, project: str, queue: str, sort: int = 1) -> Message:
        return self._at(project, queue).messages.first(project, queue, sort)


class PooledClaimController(_Routed, ClaimController):
    """Claims in the pool of their queue."""

    def create(
        self,
        project: str,
        queue: str,
        *,
        ttl: int,
        grace: int,
        limit: int | None = None,
    ) -> tuple[str | None, Messages]:
        where = self._at(project, queue)
        return where.claims.create(project, queue, ttl=ttl, grace=grace, limit=limit)

    def get(self, project: str, queue: str, claim_id: str) -> tuple[Claim, Messages]:
        return self._at(project, queue).claims.get(project, queue, claim_id)

    def update(self, project: str, queue: str, claim_id: str, *, ttl: int, grace: int) -> None:
        self._at(project, queue).claims.update(project, queue, claim_id, ttl=ttl, grace=grace)

    def delete(self, project: str, queue: str, claim_id: str) -> None:
        self._at(project, queue).claims.delete(project, queue, claim_id)


class PooledSubscriptionController(_Routed, SubscriptionController):
    """Subscriptions in the pool of their source queue."""

    def list(
        self, project: str, queue: str, *, marker: str | None = None, limit: int | None = None
    ) -> Page[Sub]:
        return self._at(project, queue).subscriptions.list(
            project, queue, marker=marker, limit=limit
        )

    def get(self, project: str, queue: str, subscription_id: str) -> Sub:
        return self._at(project, queue).subscriptions.get(project, queue, subscription_id)

    def create(
        self, project: str, queue: str, subscriber: str, ttl: int, options: Metadata
    ) -> str | None:
        where = self._router.place(project, queue)
        return where.subscriptions.create(project, queue, subscriber, ttl, options)

    def find(self, project: str, queue: str, subscriber: str) -> Sub | None:
        return self._at(project, queue).subscriptions.find(project, queue, subscriber)

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
        self._at(project, queue).subscriptions.update(
            project, queue, subscription_id, subscriber=subscriber, ttl=ttl, options=options
        )

    def delete(self, project: str, queue: str, subscription_id: str) -> None:
        self._at(project, queue).subscriptions.delete(project, queue, subscription_id)

    def confirm(self, project: str, queue: str, subscription_id: str, confirmed: bool) -> None:
        self._at(project, queue).subscriptions.confirm(project, queue, subscription_id, confirmed)
