"""Response documents: the only place where the API's JSON shapes live."""

from __future__ import annotations

import time
from typing import Any

from sqlqueue.domain import namespaces, policy
from sqlqueue.domain.limits import Limits
from sqlqueue.domain.models import (
    CatalogueEntry,
    Claim,
    DeliveryStats,
    FlavorView,
    Health,
    Message,
    MessageSummary,
    Pool,
    QueueInfo,
    QueueStats,
    StoreHealth,
    Subscription,
)
from sqlqueue.domain.moves import MoveResult
from sqlqueue.transport.wsgi.validation import reserved_defaults

Document = dict[str, Any]
PREFIX = "/v2"


def queue_path(queue: str) -> str:
    """The path of a queue, or of a topic given its key (domain/namespaces.py).

    Every href below is built on it, so a topic's messages and subscriptions
    get ``/v2/topics/...`` hrefs from the same serializers as a queue's.
    """
    return namespaces.path(queue)


def message_path(queue: str, message_id: str, claim_id: str | None = None) -> str:
    """The href of a message, with its claim when claimed."""
    path = f"{queue_path(queue)}/messages/{message_id}"
    return f"{path}?claim_id={claim_id}" if claim_id else path


def claim_path(queue: str, claim_id: str) -> str:
    """The href of a claim."""
    return f"{queue_path(queue)}/claims/{claim_id}"


def message(queue: str, msg: Message) -> Document:
    """A message as listed, fetched or claimed (``checksum`` when the service shows it)."""
    return _message(f"{queue_path(queue)}/messages/", msg)


def messages(queue: str, msgs: list[Message]) -> list[Document]:
    """Messages as listed (PERF: the queue's path made once, not per message)."""
    base = f"{queue_path(queue)}/messages/"
    return [_message(base, msg) for msg in msgs]


def _message(base: str, msg: Message) -> Document:
    """``message``, given the path its href starts with (``message_path``'s)."""
    claim_id = msg.claim_id
    href = f"{base}{msg.id}?claim_id={claim_id}" if claim_id else f"{base}{msg.id}"
    doc = {"id": msg.id, "href": href, "ttl": msg.ttl, "age": msg.age, "body": msg.body}
    if msg.checksum is not None:
        doc["checksum"] = msg.checksum
    return doc


def popped(msgs: list[Message]) -> Document:
    """Popped messages: the storage documents, without hrefs (as Zaqar)."""
    return {"messages": [msg.to_storage_dict() for msg in msgs]}


def posted(queue: str, ids: list[str], location_max: int) -> tuple[str, Document]:
    """The Location header and body answering a POST of messages.

    The Location lists the new ids (as Zaqar) while it is at most
    ``location_max`` bytes; past that it names the queue's messages, so
    that every client can read the headers (http.client refuses a header
    line over 64 KiB, proxies often one over 4 or 8 KiB). The body always
    lists every new message.
    """
    collection = f"{queue_path(queue)}/messages"  # PERF: made once, not per message
    location = f"{collection}?ids={','.join(ids)}"
    if len(location) > location_max:
        location = collection
    return location, {"resources": [f"{collection}/{mid}" for mid in ids]}


def claim(queue: str, meta: Claim, msgs: list[Message]) -> Document:
    """A claim with its messages."""
    return {
        "age": meta.age,
        "ttl": meta.ttl,
        "href": claim_path(queue, meta.id),
        "messages": messages(queue, msgs),
    }


def metadata(stored: dict[str, Any], limits: Limits) -> Document:
    """Queue metadata with reserved defaults for keys absent or falsy."""
    return _with_defaults(stored, reserved_defaults(limits))


def topic_metadata(stored: dict[str, Any], limits: Limits) -> Document:
    """Topic metadata: only three defaults are filled in (Zaqar 23, topics.md section 7)."""
    defaults = reserved_defaults(limits)
    return _with_defaults(stored, {key: defaults[key] for key in TOPIC_DEFAULTS})


TOPIC_DEFAULTS = (
    policy.MAX_MESSAGES_POST_SIZE,
    policy.DEFAULT_MESSAGE_TTL,
    policy.DEFAULT_MESSAGE_DELAY,
)


def _with_defaults(stored: dict[str, Any], defaults: dict[str, Any]) -> Document:
    shown = dict(stored)
    for key, default in defaults.items():
        if not shown.get(key):
            shown[key] = default
    return shown


def queue(info: QueueInfo, limits: Limits, detailed: bool) -> Document:
    """One queue (or topic, given its key) of a listing."""
    topic = namespaces.of(info.name) is namespaces.TOPICS
    doc: Document = {"name": namespaces.name(info.name), "href": queue_path(info.name)}
    if detailed:
        show = topic_metadata if topic else metadata
        doc["metadata"] = show(info.metadata or {}, limits)
    return doc


def stats(queue_name: str, found: QueueStats) -> Document:
    """Queue statistics."""
    counts: Document = {"free": found.free, "claimed": found.claimed, "total": found.total}
    if found.total:
        if found.oldest is not None:
            counts["oldest"] = _edge(queue_name, found.oldest)
        if found.newest is not None:
            counts["newest"] = _edge(queue_name, found.newest)
    return {"messages": counts}


def topic_stats(key: str, found: QueueStats, exists: bool) -> Document:
    """Topic statistics (Zaqar 23): only ``total`` (and the edges) for a topic that
    exists, as nothing is ever claimed; the queue zeros for a missing one."""
    if not exists:
        return stats(key, found)
    counts: Document = {"total": found.total}
    if found.total and found.oldest is not None and found.newest is not None:
        counts["oldest"] = _edge(key, found.oldest)
        counts["newest"] = _edge(key, found.newest)
    return {"messages": counts}


def _edge(queue_name: str, summary: MessageSummary) -> Document:
    return {
        "age": summary.age,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(summary.created)),
        "href": message_path(queue_name, summary.id),
    }


def subscription(sub: Subscription) -> Document:
    """One subscription."""
    return {
        "id": sub.id,
        "source": namespaces.name(sub.source),
        "subscriber": sub.subscriber,
        "ttl": sub.ttl,
        "age": sub.age,
        "options": sub.options,
        "confirmed": sub.confirmed,
    }


def delivery_state(stats: DeliveryStats) -> Document:
    """A subscription's notifications still in the outbox, by state, and its last error."""
    return {
        "delivered": stats.delivered,
        "pending": stats.pending,
        "failed": stats.failed,
        "last_error": stats.last_error,
    }


def topic_listing(items: list[Document], links: list[dict[str, str]]) -> Document:
    """One page of topics."""
    return listing("topics", items, links)


def listing(key: str, items: list[Document], links: list[dict[str, str]]) -> Document:
    """One page of a collection: its items and the ``next`` link, if any."""
    return {key: items, "links": links}


def queue_listing(
    items: list[Document], links: list[dict[str, str]], count: int | None
) -> Document:
    """One page of queues; ``count`` only when asked for and non-zero."""
    doc = listing("queues", items, links)
    if count:
        doc["count"] = count
    return doc


def message_set(queue: str, msgs: list[Message]) -> Document:
    """Messages fetched by ids or just claimed (no paging links)."""
    return {"messages": messages(queue, msgs)}


def subscription_created(subscription_id: str) -> Document:
    """The answer to a subscription POST."""
    return {"subscription_id": subscription_id}


def share(project: str, paths: list[str], methods: list[str], expires: str, sig: str) -> Document:
    """A pre-signed URL's description and signature."""
    return {
        "project": project,
        "paths": paths,
        "methods": methods,
        "expires": expires,
        "signature": sig,
    }


def health(reachable: bool) -> Document:
    """The admin health report of a bare driver."""
    return {"storage_reachable": reachable}


def _store_health(found: StoreHealth) -> Document:
    doc: Document = {"storage_reachable": found.reachable}
    if found.volume is not None:
        volume = found.volume
        doc["message_volume"] = {
            "free": volume.free,
            "claimed": volume.claimed,
            "total": volume.total,
        }
    return doc


def health_report(report: Health) -> Document:
    """The detailed admin health report: catalogue, default database, each pool."""
    return {
        "catalog_reachable": report.catalogue_reachable,
        **_store_health(report.default),
        "pools": {name: _store_health(found) for name, found in report.pools.items()},
    }


def pool_path(name: str) -> str:
    """The href of a pool."""
    return f"{PREFIX}/pools/{name}"


def pool(found: Pool, detailed: bool) -> Document:
    """A pool; its options only when detailed."""
    doc: Document = {
        "href": pool_path(found.name),
        "name": found.name,
        "uri": found.uri,
        "weight": found.weight,
        "flavor": found.flavor,
    }
    if detailed:
        doc["options"] = found.options
    return doc


def flavor_path(name: str) -> str:
    """The href of a flavor."""
    return f"{PREFIX}/flavors/{name}"


def flavor(found: FlavorView, detailed: bool) -> Document:
    """A flavor and its pools; its capabilities (names) when detailed."""
    doc: Document = {
        "href": flavor_path(found.name),
        "name": found.name,
        "pool_list": found.pool_list,
    }
    if detailed:
        doc["capabilities"] = found.capabilities
    return doc


def queue_moved(result: MoveResult) -> Document:
    """A finished move: where the queue is now, how many messages went, the write pause (ms)."""
    return {
        "project": result.project,
        "queue": result.queue,
        "pool": result.target,
        "source": result.source,
        "messages": result.messages,
        "pause_ms": round(result.pause_ms, 1),
    }


def catalogue_entry(entry: CatalogueEntry) -> Document:
    """Where one queue (or topic: ``"topic"`` instead of ``"queue"``) lives."""
    space = namespaces.of(entry.queue)
    noun = space.collection[:-1]
    return {"project": entry.project, noun: space.name(entry.queue), "pool": entry.pool}
