"""Pooling: queues spread over many databases, routed through the catalogue.

Layering: this package knows only the storage contract (``storage.base``),
never SQLAlchemy or ``storage.sql``; the composition root hands it a control
driver and a factory of per-pool data drivers.
"""

from sqlqueue.storage.pooling.routing import (
    ControlPlane,
    DriverFactory,
    PlacingCatalogue,
    Router,
    weighted_choice,
)
from sqlqueue.storage.pooling.store import PooledStore

__all__ = [
    "ControlPlane",
    "DriverFactory",
    "PlacingCatalogue",
    "PooledStore",
    "Router",
    "weighted_choice",
]
