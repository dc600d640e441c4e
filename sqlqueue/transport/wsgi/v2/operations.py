"""The route table's vocabulary: operations and resources, as the documents describe them.

Shared by ``documents`` (the table itself) and ``openapi`` (which renders
it), so that neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    """One operation: its summary, answers, request body and policy.

    ``ok`` maps each success status to the schema name of its body (None:
    no body). ``errors`` are the statuses it gives beyond those every
    operation can give (400, 404, 406; 503 on routes over the storage;
    403 when ``admin``, i.e. it needs the admin role).
    """

    summary: str
    ok: dict[str, str | None]
    errors: tuple[str, ...] = ()
    body: str | None = None
    body_required: bool = True
    admin: bool = False


@dataclass(frozen=True)
class Route:
    """One resource: its relation name, path, query variables and operations.

    ``storage``: its operations read the storage (503 when it is down).
    ``headers``: it needs the Client-ID and X-Project-Id headers.
    """

    rel: str
    path: str
    query: tuple[str, ...]
    methods: dict[str, Op]
    storage: bool = True
    headers: bool = True
