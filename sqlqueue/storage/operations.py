"""Operations that take several controller calls, written once for every transport.

The HTTP resources and the websocket actions both purge, subscribe and
delete a claimed message; each step is a call of the storage contract
(``storage/base.py``) through a ``QueueStore``, so pooled and single
stores behave alike.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlqueue import errors
from sqlqueue.storage.base import QueueStore

PURGE_BATCH = 100
"""Messages or subscriptions deleted per storage call while purging."""
BAD_CLAIM = "The specified claim does not exist or has expired."


def purge(store: QueueStore, project: str, queue: str, kinds: Collection[str]) -> None:
    """Delete a queue's ``messages`` (claimed and delayed ones too) and/or ``subscriptions``.

    The queue and its metadata stay. Unlike Zaqar, which pops (so claimed
    messages survive), every message goes.
    """
    if "messages" in kinds:
        _purge_messages(store, project, queue)
    if "subscriptions" in kinds:
        _purge_subscriptions(store, project, queue)


def _purge_messages(store: QueueStore, project: str, queue: str) -> None:
    marker: str | None = None
    while True:
        messages = store.at(project, queue).messages
        page = messages.list(
            project,
            queue,
            marker=marker,
            limit=PURGE_BATCH,
            echo=True,
            include_claimed=True,
            include_delayed=True,
        )
        if not page.items:
            return
        messages.bulk_delete(project, queue, [m.id for m in page.items])
        marker = page.next_marker


def _purge_subscriptions(store: QueueStore, project: str, queue: str) -> None:
    while True:
        subs = store.at(project, queue).subscriptions
        page = subs.list(project, queue, limit=PURGE_BATCH)
        if not page.items:
            return
        for sub in page.items:
            subs.delete(project, queue, sub.id)


def subscribe(
    store: QueueStore,
    project: str,
    queue: str,
    subscriber: str,
    ttl: int,
    options: dict[str, Any],
) -> str:
    """The id of a new subscription of ``subscriber`` to ``queue`` (created if missing).

    A duplicate of an unconfirmed subscription gets the existing id and a new
    confirmation request (Zaqar's behaviour); a duplicate of a confirmed one
    raises ``SubscriptionAlreadyExists`` (409).
    """
    store.create_queue(project, queue)
    subs = store.placing(project, queue).subscriptions
    for _ in range(2):  # a duplicate may vanish between create and find
        new_id = subs.create(project, queue, subscriber, ttl, options)
        if new_id is not None:
            return new_id
        found = subs.find(project, queue, subscriber)
        if found is not None and found.confirmed:
            break
        if found is not None:
            subs.request_confirmation(project, queue, found.id)
            return found.id
    raise errors.SubscriptionAlreadyExists("Such a confirmed subscription already exists.")


def delete_message(
    store: QueueStore, project: str, queue: str, message_id: str, claim_id: str | None
) -> None:
    """Delete one message, with the claim id if it is claimed (nothing if it is missing).

    Zaqar's answers: an unknown or expired claim id is a ``ValidationFailed``
    (400); a live claim that does not hold the message ``MessageNotClaimedBy``
    (403); a claimed message without a claim id ``MessageIsClaimed`` (403).
    """
    where = store.at(project, queue)
    try:
        where.messages.delete(project, queue, message_id, claim_id)
    except errors.ClaimDoesNotExist as ex:
        raise errors.ValidationFailed(BAD_CLAIM) from ex
    except errors.MessageNotClaimedBy:
        try:
            where.claims.get(project, queue, claim_id or "")
        except errors.ClaimDoesNotExist as ex:
            raise errors.ValidationFailed(BAD_CLAIM) from ex
        raise
