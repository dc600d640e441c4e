"""One table from sqlqueue's exception families to HTTP errors.

Falcon picks the handler of the most specific class in an exception's MRO,
so a subclass row (``MessageNotClaimed``) overrides its family row
(``NotPermitted``). Every error body is ``{"title", "description"}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import falcon

from sqlqueue import errors

logger = logging.getLogger(__name__)

BAD_REQUEST = "Invalid API request"
BAD_BODY = "Invalid request body"
UNAVAILABLE = "Service temporarily unavailable"
RETRY = "Please try again in a few seconds."


class InvalidBody(errors.ValidationFailed):
    """The request body is invalid."""


@dataclass(frozen=True)
class Mapping:
    """How one exception class is shown to clients."""

    status: str
    title: str
    description: str | None = None  # None: the exception's own description


HANDLERS: dict[type[Exception], Mapping] = {
    errors.ValidationFailed: Mapping(falcon.HTTP_400, BAD_REQUEST),
    InvalidBody: Mapping(falcon.HTTP_400, BAD_BODY),
    errors.EncryptionUnavailable: Mapping(falcon.HTTP_400, BAD_BODY),
    errors.BlobStoreMissing: Mapping(falcon.HTTP_400, BAD_BODY),
    errors.NotPermitted: Mapping(falcon.HTTP_403, "Forbidden"),
    errors.MessageIsClaimed: Mapping(
        falcon.HTTP_403,
        "Unable to delete",
        "This message is claimed; it cannot be deleted without a valid claim ID.",
    ),
    errors.MessageNotClaimedBy: Mapping(
        falcon.HTTP_403,
        "Unable to delete",
        "This message is claimed by another claim; it cannot be deleted with this claim ID.",
    ),
    errors.MessageNotClaimed: Mapping(
        falcon.HTTP_400,
        BAD_REQUEST,
        "A claim was specified, but the message is not currently claimed.",
    ),
    errors.DoesNotExist: Mapping(falcon.HTTP_404, "Not found"),
    errors.Conflict: Mapping(falcon.HTTP_409, "Conflict"),
    errors.MessageConflict: Mapping(
        falcon.HTTP_503, UNAVAILABLE, f"No messages could be enqueued. {RETRY}"
    ),
    errors.StorageUnavailable: Mapping(
        falcon.HTTP_503, UNAVAILABLE, f"Service temporarily unavailable. {RETRY}"
    ),
    errors.BodyCipherFailed: Mapping(falcon.HTTP_503, UNAVAILABLE),
    errors.NoPoolFound: Mapping(falcon.HTTP_503, UNAVAILABLE),  # an operator's to fix: no retry
}


def _handler(mapping: Mapping) -> Any:
    def handle(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
        description = mapping.description or str(ex) or mapping.title
        if mapping.status == falcon.HTTP_503:
            logger.warning("%s %s: %s", req.method, req.path, ex)
        title = getattr(ex, "title", None) or mapping.title
        raise falcon.HTTPError(mapping.status, title=title, description=description)

    return handle


def _unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    logger.error("unexpected error in %s %s", req.method, req.path, exc_info=ex)
    raise falcon.HTTPError(
        falcon.HTTP_500,
        title="Internal server error",
        description="An unexpected error occurred; it has been logged.",
    )


def serialize_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError) -> None:
    """Always answer JSON ``{"title", "description"}`` whatever the Accept header."""
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {"title": ex.title, "description": ex.description or ex.title}


def install(app: falcon.App[Any, Any]) -> None:
    """Register the table's handlers, the catch-all and the error serializer."""
    app.add_error_handler(Exception, _unexpected)
    for exc_class, mapping in HANDLERS.items():
        app.add_error_handler(exc_class, _handler(mapping))
    app.set_error_serializer(serialize_error)
