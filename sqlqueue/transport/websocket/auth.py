"""Keystone authentication of a websocket connection (Zaqar's ``authenticate`` action).

With ``auth_strategy = keystone`` a connection starts unauthenticated:
every action but ``authenticate`` is refused with 403 "Not authentified."
(Zaqar's wording) until an ``authenticate`` frame carries a token Keystone
accepts (``X-Auth-Token``; 401 "Authentication failed." otherwise, and the
client may try again). From then on every frame's ``X-Project-ID`` must be
the token's project (403 "Not authenticated." otherwise). ``authenticate``
may be sent again at any time (a fresh token moves the expiry); when the
token expires the server closes the socket with code 4003 (websocket.md
section 4). Under noauth there is no gate: ``X-Project-ID`` is trusted per
frame, as on HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlqueue.config import Settings
from sqlqueue.transport.websocket.frames import Reply, Request
from sqlqueue.transport.websocket.replies import error_body
from sqlqueue.transport.wsgi.keystone import (
    KeystoneUnavailable,
    TokenIdentity,
    TokenRefused,
    TokenValidator,
)

NOT_AUTHENTIFIED = "Not authentified."
"""Zaqar's refusal of a frame sent before a successful ``authenticate``."""
NOT_AUTHENTICATED = "Not authenticated."
"""Zaqar's refusal of a frame whose ``X-Project-ID`` is not the token's project."""
EXPIRED_CODE = 4003
EXPIRED_REASON = "Authentication expired."


@dataclass
class Authentication:
    """One connection's state: the token's project and expiry once authenticated."""

    project: str | None = None
    expires: float | None = None
    """Seconds since the epoch; None when Keystone gave no expiry."""
    done: bool = False

    def expired(self, now: float | None = None) -> bool:
        """Whether an authenticated connection's token has run out."""
        if not self.done or self.expires is None:
            return False
        return (time.time() if now is None else now) >= self.expires


class Gate:
    """Checks frames against their connection's ``Authentication``."""

    def __init__(self, validate: Callable[[str], TokenIdentity]) -> None:
        self._validate = validate

    def authenticate(self, request: Request, auth: Authentication) -> Reply:
        """Answer ``authenticate``: 200, 401 (token refused) or 503 (Keystone down).

        A refused token leaves a connection authenticated earlier as it was.
        """
        token = request.header("X-Auth-Token")
        if not isinstance(token, str) or not token:
            return Reply(401, error_body("Unauthorized", "Authentication failed."))
        try:
            identity = self._validate(token)
        except TokenRefused:
            return Reply(401, error_body("Unauthorized", "Authentication failed."))
        except KeystoneUnavailable as ex:
            return Reply(503, error_body("Service unavailable", str(ex)))
        auth.project, auth.expires, auth.done = identity.project, identity.expires, True
        return Reply(200, {"message": "Authentified."})

    @staticmethod
    def refusal(project: str, auth: Authentication) -> Reply | None:
        """The 403 for a frame of ``project`` on this connection, or None to go on."""
        if not auth.done or auth.expired():
            return Reply(403, error_body("Forbidden", NOT_AUTHENTIFIED))
        if auth.project is None or project != auth.project:
            return Reply(403, error_body("Forbidden", NOT_AUTHENTICATED))
        return None


def gate_for(settings: Settings) -> Gate | None:
    """The gate ``settings.auth_strategy`` asks for: Keystone's, or None (noauth)."""
    if settings.auth_strategy != "keystone":
        return None
    return Gate(TokenValidator(settings).validate)
