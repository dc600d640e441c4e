"""Error replies: sqlqueue's exception tree mapped as the HTTP API maps it.

The status and wording come from the HTTP error table
(``transport/wsgi/errors.HANDLERS``); the body has Zaqar's websocket keys,
both always set so clients (python-zaqarclient shows ``error``) can tell
what went wrong: ``{"error": description, "exception": description,
"title": the HTTP API's title}``.
"""

from __future__ import annotations

import logging

from sqlqueue import errors
from sqlqueue.transport.websocket.frames import Document, Reply
from sqlqueue.transport.wsgi.errors import HANDLERS

logger = logging.getLogger(__name__)

UNEXPECTED = "Unexpected error."


def error_body(title: str, description: str) -> Document:
    """The body of an error reply."""
    return {"error": description, "exception": description, "title": title}


def bad_request(description: str, title: str = "Invalid API request") -> Reply:
    """A 400 reply."""
    return Reply(400, error_body(title, description))


def from_exception(ex: Exception, action: str | None) -> Reply:
    """The reply for an exception raised while answering ``action``."""
    for klass in type(ex).__mro__:
        mapping = HANDLERS.get(klass)
        if mapping is not None:
            status = int(mapping.status.split()[0])
            if status >= 500:
                logger.warning("websocket %s: %s", action, ex)
            description = mapping.description or str(ex) or mapping.title
            title = getattr(ex, "title", None) or mapping.title
            return Reply(status, error_body(title, description))
    if isinstance(ex, errors.SqlqueueError):  # a family without a row: as its base
        return Reply(400, error_body("Invalid API request", str(ex)))
    logger.error("unexpected error in websocket action %s", action, exc_info=ex)
    return Reply(500, error_body("Internal server error", UNEXPECTED))
