"""Limits and defaults of the API, with Zaqar's values."""

from __future__ import annotations

from dataclasses import dataclass

MAX_WAIT = 20
"""Longest long-poll (``?wait=`` on claim create and message list), in seconds:
as SQS's ``WaitTimeSeconds``; Zaqar has no long-poll."""


@dataclass(frozen=True)
class Limits:
    """Configurable limits (Zaqar's ``[transport]`` options and their defaults)."""

    default_message_ttl: int = 3600
    default_message_delay: int = 0
    default_claim_ttl: int = 300
    default_claim_grace: int = 60
    default_subscription_ttl: int = 3600
    max_queues_per_page: int = 20
    max_messages_per_page: int = 20
    max_messages_per_claim_or_pop: int = 20
    max_subscriptions_per_page: int = 20
    max_pools_per_page: int = 20
    max_flavors_per_page: int = 20
    max_queue_metadata: int = 65536
    max_messages_post_size: int = 262144
    max_messages_per_post: int = 1000
    """Messages one POST may carry (sqlqueue's own bound; Zaqar bounds posts by
    bytes only). Far above the batches Zaqar clients send; a post above it is
    a 400 and stores nothing."""
    max_message_ttl: int = 1209600
    max_message_delay: int = 900
    max_claim_ttl: int = 43200
    max_claim_grace: int = 43200
    min_message_ttl: int = 60
    min_claim_ttl: int = 60
    min_claim_grace: int = 60
    min_subscription_ttl: int = 60
    max_queue_name_length: int = 64
    max_project_id_length: int = 256
    client_id_uuid_safe: str = "strict"
    min_length_client_id: int = 10
    max_length_client_id: int = 36
    message_delete_with_claim_id: bool = False
