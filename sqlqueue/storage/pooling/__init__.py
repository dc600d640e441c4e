"""Pooling: one DataDriver over many databases, routed through the catalogue.

Layering: this package knows only the storage contract (``storage.base``),
never SQLAlchemy or ``storage.sql``; the composition root hands it a control
driver and a factory of per-pool data drivers.
"""

from sqlqueue.storage.pooling.admin import Admin, FlavorView, Health, StoreHealth
from sqlqueue.storage.pooling.driver import PooledDataDriver
from sqlqueue.storage.pooling.pool_admin import AdminControl, PoolDatabases
from sqlqueue.storage.pooling.routing import (
    ControlPlane,
    DriverFactory,
    PlacingCatalogue,
    Router,
    weighted_choice,
)

__all__ = [
    "Admin",
    "AdminControl",
    "ControlPlane",
    "DriverFactory",
    "FlavorView",
    "Health",
    "PlacingCatalogue",
    "PoolDatabases",
    "PooledDataDriver",
    "Router",
    "StoreHealth",
    "weighted_choice",
]
