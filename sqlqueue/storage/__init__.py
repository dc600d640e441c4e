"""Storage: the typed controller contract and its implementations."""

from sqlqueue.storage.base import (
    CatalogueController,
    ClaimController,
    DataDriver,
    FlavorController,
    MessageController,
    PoolController,
    QueueController,
    SubscriptionController,
)

__all__ = [
    "CatalogueController",
    "ClaimController",
    "DataDriver",
    "FlavorController",
    "MessageController",
    "PoolController",
    "QueueController",
    "SubscriptionController",
]
