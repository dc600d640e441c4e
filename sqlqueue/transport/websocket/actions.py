"""The actions of Zaqar's websocket API over the queue store.

Each action runs synchronously (the server calls ``Actions.handle`` in its
bounded thread pool) and returns an ``Outcome``: the reply, and for socket
subscriptions what the server must register or forget. Validation is the
HTTP API's (``Validator``, queue-name and Client-ID rules); shapes follow
Zaqar's websocket API (websocket.md section 3): message items carry
``claim_id`` instead of ``href``, lists have no links (sqlqueue adds a
``next`` marker), several actions answer a bare string.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlqueue import errors
from sqlqueue.domain import identity
from sqlqueue.domain.limits import Limits
from sqlqueue.domain.models import Message, MessageSummary, Page
from sqlqueue.storage import operations
from sqlqueue.storage.base import QueueStore
from sqlqueue.transport.websocket import replies
from sqlqueue.transport.websocket.auth import Authentication, Gate
from sqlqueue.transport.websocket.frames import Document, Reply, Request
from sqlqueue.transport.websocket.schema import SPECS, UNSUPPORTED, check_body
from sqlqueue.transport.wsgi import serializers
from sqlqueue.transport.wsgi.errors import InvalidBody
from sqlqueue.transport.wsgi.validation import Validator

DEFAULT_PAGE = 10
SOCKET_SUBSCRIBER = "http://socket.invalid/"
"""Stands in for the subscriber while a socket subscription's ttl/options are validated."""


@dataclass(frozen=True)
class Session:
    """What an action knows of its connection: its subscriber URI and authentication."""

    subscriber: str
    """The URI its socket subscriptions use."""
    auth: Authentication = field(default_factory=Authentication, compare=False)
    """Its Keystone authentication (changed in place by ``authenticate``)."""


@dataclass(frozen=True)
class Subscribe:
    """Push messages of ``queue`` with a marker above ``after`` to this socket for ``ttl`` s."""

    project: str
    queue: str
    subscription_id: str
    after: int
    ttl: int


@dataclass(frozen=True)
class Unsubscribe:
    """Stop pushing for this subscription (on whichever socket of this process holds it)."""

    subscription_id: str


@dataclass(frozen=True)
class Outcome:
    """A reply and what the server must do before sending it."""

    reply: Reply
    effect: Subscribe | Unsubscribe | None = None


@dataclass(frozen=True)
class Call:
    """One checked request: who asks, and the body."""

    project: str
    client_id: str
    body: dict[str, Any]
    session: Session

    @property
    def queue(self) -> str:
        """The queue the action is about."""
        return str(self.body["queue_name"])


def message_item(msg: Message) -> Document:
    """A message as the websocket API shows it (no href, its claim id instead)."""
    doc = {
        "id": msg.id,
        "claim_id": msg.claim_id,
        "ttl": msg.ttl,
        "age": msg.age,
        "body": msg.body,
    }
    if msg.checksum is not None:
        doc["checksum"] = msg.checksum
    return doc


def _listing(key: str, items: list[Any], page: Page[Any], limit: int) -> Document:
    """A list; ``next`` (the marker of the next page) only when this page is full."""
    doc: Document = {key: items}
    if len(page.items) >= limit and page.next_marker is not None:
        doc["next"] = page.next_marker
    return doc


def _edge(summary: MessageSummary) -> Document:
    """The oldest or newest message in stats: the storage's view (id, no href)."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(summary.created))
    return {"id": summary.id, "age": summary.age, "created": created}


class Actions:
    """Every action of the protocol, over one queue store."""

    def __init__(self, store: QueueStore, limits: Limits, gate: Gate | None = None) -> None:
        """``gate``: Keystone's check of every frame (None under noauth)."""
        self._store = store
        self._limits = limits
        self._gate = gate
        self._validate = Validator(limits)
        self._table: dict[str, Callable[[Call], Outcome]] = {
            name: getattr(self, f"_{name}") for name in SPECS if name != "authenticate"
        }

    def handle(self, request: Request, session: Session) -> Outcome:
        """Answer one request; every failure becomes an error reply."""
        try:
            return self._handle(request, session)
        except Exception as ex:
            return Outcome(replies.from_exception(ex, request.action))

    def _handle(self, request: Request, session: Session) -> Outcome:
        action = request.action or ""
        if action in UNSUPPORTED:
            return Outcome(replies.bad_request(f"{action} is not supported by sqlqueue."))
        if action not in SPECS:
            return Outcome(replies.bad_request(f"{action} is not a valid action"))
        project = self._project(request)
        if action == "authenticate":
            if self._gate is None:  # noauth: the project header is trusted as on HTTP
                return Outcome(Reply(200, {"message": "Authentified."}))
            return Outcome(self._gate.authenticate(request, session.auth))
        body = check_body(action, {} if request.body is None else request.body)
        client_id = self._client_id(request)
        if self._gate is not None and (refused := self._gate.refusal(project, session.auth)):
            return Outcome(refused)
        call = Call(project, client_id, body, session)
        if "queue_name" in body:
            identity.check_queue_name(call.queue, self._limits)
        return self._table[action](call)

    # -- headers ---------------------------------------------------------------

    def _project(self, request: Request) -> str:
        value = request.header("X-Project-ID")
        if value is None:
            raise InvalidBody("Schema validation failed: headers.X-Project-ID is required.")
        if not isinstance(value, str):
            raise errors.ValidationFailed("X-Project-ID must be a string.")
        return identity.check_project_id(value, self._limits)

    def _client_id(self, request: Request) -> str:
        value = request.header("Client-ID")
        if value is None:
            raise InvalidBody("Schema validation failed: headers.Client-ID is required.")
        if not isinstance(value, str):
            raise errors.ValidationFailed("Client-ID must be a string.")
        return identity.check_client_id(value, self._limits)

    def _limit(self, call: Call, maximum: int, name: str = "limit") -> int:
        value = call.body.get(name, DEFAULT_PAGE)
        if not 1 <= value <= maximum:
            raise errors.ValidationFailed(f"{name} must be from 1 to {maximum}.")
        return int(value)

    def _ids(self, call: Call, name: str) -> list[str]:
        values = call.body[name]
        if len(values) > self._limits.max_messages_per_page or not all(
            isinstance(v, str) for v in values
        ):
            raise errors.ValidationFailed(
                f"{name} must be a list of at most {self._limits.max_messages_per_page} strings."
            )
        return list(values)

    # -- queues ----------------------------------------------------------------

    def _queue_list(self, call: Call) -> Outcome:
        limit = self._limit(call, self._limits.max_queues_per_page)
        detailed = bool(call.body.get("detailed", False))
        page = self._store.list_queues(
            call.project, marker=call.body.get("marker"), limit=limit, detailed=detailed
        )
        items: list[Document] = []
        for info in page.items:
            item: Document = {"name": info.name}
            if detailed:
                item["metadata"] = info.metadata or {}
            items.append(item)
        return Outcome(Reply(200, _listing("queues", items, page, limit)))

    def _queue_create(self, call: Call) -> Outcome:
        metadata = self._validate.metadata(call.body.get("metadata"))
        try:
            created = self._store.create_queue(call.project, call.queue, metadata)
        except errors.FlavorDoesNotExist as ex:
            raise InvalidBody(f"_flavor: {ex}") from ex
        return Outcome(Reply(201 if created else 204, f"Queue {call.queue} created."))

    def _queue_get(self, call: Call) -> Outcome:
        try:
            where = self._store.at(call.project, call.queue)
            return Outcome(Reply(200, where.queues.get_metadata(call.project, call.queue)))
        except errors.QueueDoesNotExist:
            return Outcome(Reply(200, {}))

    def _queue_delete(self, call: Call) -> Outcome:
        self._store.delete_queue(call.project, call.queue)
        return Outcome(Reply(204, f"Queue {call.queue} removed."))

    def _queue_get_stats(self, call: Call) -> Outcome:
        queues = self._store.at(call.project, call.queue).queues
        found = queues.stats(call.project, call.queue)
        counts: Document = {"claimed": found.claimed, "free": found.free, "total": found.total}
        if found.total and found.oldest is not None:
            counts["oldest"] = _edge(found.oldest)
        if found.total and found.newest is not None:
            counts["newest"] = _edge(found.newest)
        missing = not found.total and not queues.exists(call.project, call.queue)
        return Outcome(Reply(404 if missing else 200, {"messages": counts}))

    def _queue_purge(self, call: Call) -> Outcome:
        kinds = self._validate.purge(
            {k: call.body[k] for k in ("resource_types",) if k in call.body}
        )
        operations.purge(self._store, call.project, call.queue, kinds)
        return Outcome(Reply(204, {}))

    # -- messages --------------------------------------------------------------

    def _message_post(self, call: Call) -> Outcome:
        document = {"messages": call.body["messages"]}
        size = len(json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        if size > self._limits.max_messages_post_size:
            raise InvalidBody(
                f"Message collection size is too large. Max size: "
                f"{self._limits.max_messages_post_size}"
            )
        batch = self._validate.messages(document)
        where = self._store.placing(call.project, call.queue)
        ids = where.messages.post(call.project, call.queue, batch, call.client_id, size=size)
        return Outcome(Reply(201, {"message_ids": ids}))

    def _message_list(self, call: Call) -> Outcome:
        limit = self._limit(call, self._limits.max_messages_per_page)
        page = self._store.at(call.project, call.queue).messages.list(
            call.project,
            call.queue,
            marker=call.body.get("marker"),
            limit=limit,
            echo=bool(call.body.get("echo", False)),
            client_id=call.client_id,
            include_claimed=bool(call.body.get("include_claimed", False)),
            include_delayed=bool(call.body.get("include_delayed", False)),
        )
        items = [message_item(m) for m in page.items]
        return Outcome(Reply(200, _listing("messages", items, page, limit)))

    def _message_get(self, call: Call) -> Outcome:
        where = self._store.at(call.project, call.queue)
        msg = where.messages.get(call.project, call.queue, call.body["message_id"])
        return Outcome(Reply(200, {"messages": message_item(msg)}))

    def _message_get_many(self, call: Call) -> Outcome:
        ids = self._ids(call, "message_ids")
        found = self._store.at(call.project, call.queue).messages.bulk_get(
            call.project, call.queue, ids
        )
        return Outcome(Reply(200, {"messages": [message_item(m) for m in found]}))

    def _message_delete(self, call: Call) -> Outcome:
        operations.delete_message(
            self._store,
            call.project,
            call.queue,
            call.body["message_id"],
            call.body.get("claim_id"),
        )
        return Outcome(Reply(204, {}))

    def _message_delete_many(self, call: Call) -> Outcome:
        has_ids, has_pop = "message_ids" in call.body, "pop" in call.body
        if has_ids == has_pop:
            raise errors.ValidationFailed("Exactly one of message_ids and pop is required.")
        where = self._store.at(call.project, call.queue)
        if has_pop:
            count = self._limit(call, self._limits.max_messages_per_claim_or_pop, "pop")
            popped = where.messages.pop(call.project, call.queue, count)
            return Outcome(Reply(200, serializers.popped(popped)))
        ids = self._ids(call, "message_ids")
        claim_ids: list[str] | None = None
        if self._limits.message_delete_with_claim_id:
            claim_ids = self._ids(call, "claim_ids") if "claim_ids" in call.body else []
            if not claim_ids:
                raise errors.ValidationFailed("claim_ids is required to delete messages by ids.")
        where.messages.bulk_delete(call.project, call.queue, ids, claim_ids)
        return Outcome(Reply(204, {}))

    # -- claims ----------------------------------------------------------------

    def _claim_times(self, call: Call) -> tuple[int, int]:
        return self._validate.claim({k: call.body[k] for k in ("ttl", "grace") if k in call.body})

    def _claim_create(self, call: Call) -> Outcome:
        limit = self._limit(call, self._limits.max_messages_per_claim_or_pop)
        ttl, grace = self._claim_times(call)
        claim_id, msgs = self._store.at(call.project, call.queue).claims.create(
            call.project, call.queue, ttl=ttl, grace=grace, limit=limit
        )
        if claim_id is None or not msgs:
            return Outcome(Reply(204, {"claim_id": None}))
        body = {"claim_id": claim_id, "messages": [message_item(m) for m in msgs]}
        return Outcome(Reply(201, body))

    def _claim_get(self, call: Call) -> Outcome:
        meta, msgs = self._store.at(call.project, call.queue).claims.get(
            call.project, call.queue, call.body["claim_id"]
        )
        body = {"age": meta.age, "ttl": meta.ttl, "messages": [message_item(m) for m in msgs]}
        return Outcome(Reply(200, body))

    def _claim_update(self, call: Call) -> Outcome:
        ttl, grace = self._claim_times(call)
        claim_id = call.body["claim_id"]
        self._store.at(call.project, call.queue).claims.update(
            call.project, call.queue, claim_id, ttl=ttl, grace=grace
        )
        return Outcome(Reply(204, f"Claim {claim_id} updated."))

    def _claim_delete(self, call: Call) -> Outcome:
        claim_id = call.body["claim_id"]
        self._store.at(call.project, call.queue).claims.delete(call.project, call.queue, claim_id)
        return Outcome(Reply(204, f"Claim {claim_id} deleted."))

    # -- subscriptions ---------------------------------------------------------

    def _subscription_create(self, call: Call) -> Outcome:
        fields = {k: call.body[k] for k in ("subscriber", "ttl", "options") if k in call.body}
        on_socket = "subscriber" not in fields
        if on_socket:
            fields["subscriber"] = SOCKET_SUBSCRIBER
        subscriber, ttl, options = self._validate.subscription(fields)
        if on_socket:
            subscriber = call.session.subscriber
        self._store.create_queue(call.project, call.queue)
        after = self._newest_marker(call) if on_socket else 0
        sub_id = operations.subscribe(
            self._store, call.project, call.queue, subscriber, ttl, options
        )
        body = {"subscription_id": sub_id, "message": f"Subscription {call.queue} created."}
        effect = Subscribe(call.project, call.queue, sub_id, after, ttl) if on_socket else None
        return Outcome(Reply(201, body), effect)

    def _newest_marker(self, call: Call) -> int:
        """The marker of the queue's newest message (0 when empty): pushes start above it."""
        try:
            where = self._store.at(call.project, call.queue)
            return where.messages.first(call.project, call.queue, sort=-1).marker
        except errors.DoesNotExist:
            return 0

    def _subscription_get(self, call: Call) -> Outcome:
        sub = self._store.at(call.project, call.queue).subscriptions.get(
            call.project, call.queue, call.body["subscription_id"]
        )
        return Outcome(Reply(200, serializers.subscription(sub)))

    def _subscription_list(self, call: Call) -> Outcome:
        limit = self._limit(call, self._limits.max_subscriptions_per_page)
        page = self._store.at(call.project, call.queue).subscriptions.list(
            call.project, call.queue, marker=call.body.get("marker"), limit=limit
        )
        items = [serializers.subscription(sub) for sub in page.items]
        return Outcome(Reply(200, _listing("subscriptions", items, page, limit)))

    def _subscription_delete(self, call: Call) -> Outcome:
        sub_id = call.body["subscription_id"]
        self._store.at(call.project, call.queue).subscriptions.delete(
            call.project, call.queue, sub_id
        )
        return Outcome(Reply(204, f"Subscription {sub_id} removed."), Unsubscribe(sub_id))

    def forget(self, project: str, queue: str, subscription_id: str) -> None:
        """Delete a socket subscription whose socket closed (errors are the caller's)."""
        self._store.at(project, queue).subscriptions.delete(project, queue, subscription_id)
