"""Pre-signed URL signatures: HMAC-SHA256 over paths, methods, project and expiry.

Pure functions shared by the transport (which verifies signatures and signs
``/share`` answers) and the notification worker (which signs the ``/confirm``
link of a subscription confirmation). The signed text joins its four parts
with the two characters backslash and ``n`` (not a newline), as Zaqar does,
so signatures interoperate.
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


def expires_at(epoch_seconds: float) -> str:
    """``format_expires`` of a Unix time (seconds)."""
    return format_expires(datetime.fromtimestamp(epoch_seconds, UTC))
