"""Pre-signed URLs: HMAC-SHA256 over paths, methods, project and expiry.

The signed text joins its four parts with the two characters backslash and
``n`` (not a newline), as Zaqar does, so signatures interoperate.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime

EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%S"
SEPARATOR = "\\n"


def signature(
    secret: str, paths: Sequence[str], methods: Sequence[str], project: str, expires: str
) -> str:
    """The hex signature of a share (paths and methods in sorted order)."""
    parts = [",".join(sorted(paths)), ",".join(sorted(methods)), project, expires]
    text = SEPARATOR.join(parts)
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def format_expires(moment: datetime) -> str:
    """An expiry as signed and sent back: UTC, whole seconds, no zone suffix."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime(EXPIRES_FORMAT)


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
