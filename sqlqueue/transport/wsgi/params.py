"""Query parameters: typed getters (Falcon answers 400 on bad values) and links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import falcon
from falcon.uri import parse_query_string

from sqlqueue import errors


def limit(req: falcon.Request, maximum: int, name: str = "limit") -> int | None:
    """An optional integer in 1..``maximum``."""
    return req.get_param_as_int(name, min_value=1, max_value=maximum)


def flag(req: falcon.Request, name: str) -> bool:
    """An optional boolean (``true/false/1/0/yes/no/on/off``), false when absent."""
    return bool(req.get_param_as_bool(name, default=False))


def id_list(req: falcon.Request, name: str, maximum: int) -> list[str] | None:
    """Ids given comma-separated and/or as repeated keys; None when absent."""
    values = req.get_param_as_list(name)
    if values is None:
        return None
    ids = [value for value in values if value]
    if len(ids) > maximum:
        raise errors.ValidationFailed(f"No more than {maximum} {name} may be given at once.")
    return ids


def raw_query(req: falcon.Request) -> dict[str, Any]:
    """The query string as given (repeated keys as lists, commas kept)."""
    return parse_query_string(req.query_string, keep_blank=False, csv=False)


def next_links(req: falcon.Request, marker: str | None, page_limit: int) -> list[dict[str, str]]:
    """A ``next`` link (all query parameters, the new marker) or none."""
    if marker is None:
        return []
    query = raw_query(req)
    query["marker"] = marker
    query["limit"] = str(page_limit)
    return [{"rel": "next", "href": f"{req.path}?{urlencode(query, doseq=True)}"}]


DEFAULT_PAGE = 10
"""Page size when ``limit`` is absent (Zaqar's storage default)."""


def page_limit(req: falcon.Request, maximum: int) -> int:
    """``limit`` in 1..``maximum``, DEFAULT_PAGE when absent."""
    value = limit(req, maximum)
    return DEFAULT_PAGE if value is None else value
