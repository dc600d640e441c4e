"""The v2 resources and the routes they answer."""

from __future__ import annotations

from typing import Any

from sqlqueue.transport.wsgi.context import Deps
from sqlqueue.transport.wsgi.v2 import claims, discovery, messages, queues, share, subscriptions

Q = "/v2/queues/{queue_name}"


def routes(deps: Deps) -> list[tuple[str, Any]]:
    """Every (URI template, resource) pair of the public v2 API."""
    table: list[tuple[str, Any]] = [
        ("/", discovery.Versions()),
        ("/v2/", discovery.HomeDocument()),
        ("/v2/openapi.json", discovery.OpenApi()),
        ("/v2/ping", discovery.Ping(deps)),
        ("/v2/queues", queues.Collection(deps)),
        (Q, queues.Item(deps)),
        (f"{Q}/stats", queues.Stats(deps)),
        (f"{Q}/purge", queues.Purge(deps)),
        (f"{Q}/share", share.Share(deps)),
        (f"{Q}/messages", messages.Collection(deps)),
        (f"{Q}/messages/{{message_id}}", messages.Item(deps)),
        (f"{Q}/claims", claims.Collection(deps)),
        (f"{Q}/claims/{{claim_id}}", claims.Item(deps)),
        (f"{Q}/subscriptions", subscriptions.Collection(deps)),
        (f"{Q}/subscriptions/{{subscription_id}}", subscriptions.Item(deps)),
        (f"{Q}/subscriptions/{{subscription_id}}/confirm", subscriptions.Confirm(deps)),
    ]
    if deps.settings.admin_mode:
        table.append(("/v2/health", discovery.Health(deps)))
    return table
