"""Translate database-driver errors into sqlqueue's exception tree."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from sqlqueue import errors

logger = logging.getLogger(__name__)

# MySQL 1213 deadlock, 1205 lock wait timeout; PostgreSQL 40P01 deadlock,
# 40001 serialization failure; SQLite "database is locked" past the timeout.
_RETRYABLE_CODES = {1213, 1205}
_RETRYABLE_PGCODES = {"40P01", "40001"}


def is_retryable(ex: exc.DBAPIError) -> bool:
    """Whether the whole transaction should simply be run again."""
    orig = ex.orig
    pgcode = getattr(orig, "pgcode", None)
    if pgcode in _RETRYABLE_PGCODES:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _RETRYABLE_CODES:
        return True
    return "database is locked" in str(orig)


@contextmanager
def wrap_db_errors() -> Iterator[None]:
    """Turn connection and operational failures into StorageUnavailable."""
    try:
        yield
    except exc.DBAPIError as ex:
        if isinstance(ex, (exc.OperationalError, exc.InterfaceError)) or ex.connection_invalidated:
            logger.warning("storage unavailable: %s", ex.orig)
            raise errors.StorageUnavailable(
                "Service temporarily unavailable. Please try again in a few seconds."
            ) from ex
        raise
    except exc.TimeoutError as ex:
        raise errors.StorageUnavailable("Storage connection pool exhausted.") from ex
