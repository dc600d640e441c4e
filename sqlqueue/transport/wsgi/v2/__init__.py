"""The v2 resources and the routes they answer."""

from __future__ import annotations

from typing import Any

from sqlqueue.transport.wsgi import dashboard, metrics
from sqlqueue.transport.wsgi.context import Deps
from sqlqueue.transport.wsgi.v2 import (
    catalogue,
    claims,
    discovery,
    flavors,
    messages,
    pools,
    queues,
    share,
    subscriptions,
    topic_parts,
    topics,
)

Q = "/v2/queues/{queue_name}"
T = "/v2/topics/{topic_name}"


def routes(deps: Deps) -> list[tuple[str, Any]]:
    """Every (URI template, resource) pair of the public v2 API."""
    admin_mode = deps.settings.admin_mode
    control = deps.admin is not None
    scraped = metrics.serves_metrics(deps.settings)
    keystone = deps.settings.auth_strategy == "keystone"
    table: list[tuple[str, Any]] = [
        ("/", discovery.Versions()),
        ("/v2/", discovery.HomeDocument(admin_mode, control)),
        (
            "/v2/openapi.json",
            discovery.OpenApi(admin_mode, deps.limits, control, scraped, keystone=keystone),
        ),
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
        *topic_routes(deps),
    ]
    if admin_mode:
        table += admin_routes(deps)
    if scraped:
        table.append((metrics.PATH, metrics.Metrics(metrics.exposition(deps))))
    return table


def topic_routes(deps: Deps) -> list[tuple[str, Any]]:
    """The routes of topics (docs/topics.md), as Zaqar 23 routes them."""
    return [
        ("/v2/topics", topics.Collection(deps)),
        (T, topics.Item(deps)),
        (f"{T}/stats", topics.Stats(deps)),
        (f"{T}/purge", topics.Purge(deps)),
        (f"{T}/messages", topic_parts.Messages(deps)),
        (f"{T}/messages/{{message_id}}", topic_parts.Message(deps)),
        (f"{T}/subscriptions", topic_parts.Subscriptions(deps)),
        (f"{T}/subscriptions/{{subscription_id}}", topic_parts.Subscription(deps)),
        (f"{T}/subscriptions/{{subscription_id}}/confirm", topic_parts.Confirm(deps)),
    ]


def admin_routes(deps: Deps) -> list[tuple[str, Any]]:
    """The routes only the admin app serves: health, and the control plane if any."""
    table: list[tuple[str, Any]] = [("/v2/health", discovery.Health(deps))]
    admin = deps.admin
    if admin is None:  # a bare driver: nothing to administer
        return table
    return [
        *table,
        ("/v2/pools", pools.Collection(deps, admin)),
        ("/v2/pools/{pool_name}", pools.Item(deps, admin)),
        ("/v2/flavors", flavors.Collection(deps, admin)),
        ("/v2/flavors/{flavor_name}", flavors.Item(deps, admin)),
        ("/v2/catalogue", catalogue.Collection(deps, admin)),
        ("/v2/catalogue/{queue_name}", catalogue.Item(deps, admin)),
        *dashboard.routes(deps, admin),
    ]
