"""Pre-signed URLs: verifying a request's signature (computed in domain.signing)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlqueue.domain.signing import EXPIRES_FORMAT, SEPARATOR, format_expires, signature

__all__ = [
    "EXPIRES_FORMAT",
    "SEPARATOR",
    "format_expires",
    "parse_expires",
    "path_allowed",
    "signature",
    "verify",
]


def parse_expires(text: str) -> datetime:
    """An ISO-8601 expiry as naive UTC.

    :raises ValueError: not a date and time, or one whose UTC time falls
        outside the calendar (years 1 to 9999), such as
        ``9999-12-31T23:59:59-14:00``.
    """
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError as ex:
            raise ValueError(f"{text!r} is outside years 1 to 9999 in UTC") from ex
    return moment


def path_allowed(path: str, allowed: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``allowed`` or below one of them."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in allowed if p)


def verify(
    secret: str,
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    now: float,
) -> bool:
    """Whether a request carries a valid, unexpired signature for itself."""
    expires = headers.get("URL-EXPIRES", "")
    methods = headers.get("URL-METHODS", "").split(",")
    paths = headers.get("URL-PATHS", "").split(",")
    project = headers.get("X-PROJECT-ID", "")
    given = headers.get("URL-SIGNATURE", "")
    if method not in methods or not path_allowed(path, paths):
        return False
    try:
        moment = datetime.strptime(expires, EXPIRES_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return False
    if moment.timestamp() <= now:
        return False
    expected = signature(secret, paths, methods, project, expires)
    return hmac.compare_digest(expected, given)
