"""Clients for the three queue operations, one per thread: over HTTP, or in-process.

``HttpClient`` speaks the Zaqar v2 wire format to a running server (see ``server``) on a
keep-alive ``requests.Session``; ``FloorClient`` calls ``SqlDataDriver`` directly. Both
post, claim up to ``CLAIM_LIMIT`` and delete with the claim id, as project ``project``.
"""

# requests ships no type information (types-requests is not a project dependency).
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver

from .workload import CLAIM_GRACE, CLAIM_LIMIT, CLAIM_TTL, MESSAGE_TTL, BenchError, Body

REQUEST_TIMEOUT = 30.0
"""Seconds one HTTP request may take."""


@dataclass(frozen=True)
class Claimed:
    """A claimed message: its id, the ``seq`` of its body, and how to delete it."""

    id: str
    seq: int
    ref: str
    """HTTP: the href to DELETE (carries ``?claim_id=``); floor: the claim id."""


class Client(Protocol):
    """One client thread's view of a side."""

    def post(self, queue: str, bodies: Sequence[Body]) -> list[str]:
        """Post ``bodies`` in one request; their ids in input order."""

    def claim(self, queue: str) -> list[Claimed]:
        """Claim up to CLAIM_LIMIT messages; empty when none is free."""

    def delete(self, queue: str, message: Claimed) -> None:
        """Delete one claimed message with its claim id."""

    def close(self) -> None:
        """Release the client's resources."""


class HttpClient:
    """A keep-alive ``requests.Session`` speaking the Zaqar v2 wire format."""

    def __init__(self, base_url: str, project: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Client-ID": str(uuid.uuid4()),
                "X-Project-Id": project,
                "Accept": "application/json",
            }
        )

    def _call(
        self, method: str, path: str, expect: tuple[int, ...], document: Any = None
    ) -> requests.Response:
        url = self.base_url + path
        resp = self.session.request(method, url, json=document, timeout=REQUEST_TIMEOUT)
        if resp.status_code not in expect:
            raise BenchError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp

    def connect(self) -> None:
        """Open the keep-alive connection (untimed)."""
        self._call("GET", "/v2/ping", (204,))

    def create_queue(self, queue: str) -> None:
        self._call("PUT", f"/v2/queues/{queue}", (201, 204))

    def post(self, queue: str, bodies: Sequence[Body]) -> list[str]:
        document = {"messages": [{"body": body, "ttl": MESSAGE_TTL} for body in bodies]}
        resp = self._call("POST", f"/v2/queues/{queue}/messages", (201,), document)
        hrefs: list[str] = resp.json()["resources"]
        return [href.rsplit("/", 1)[1] for href in hrefs]

    def claim(self, queue: str) -> list[Claimed]:
        document = {"ttl": CLAIM_TTL, "grace": CLAIM_GRACE}
        path = f"/v2/queues/{queue}/claims?limit={CLAIM_LIMIT}"
        resp = self._call("POST", path, (201, 204), document)
        if resp.status_code == 204:
            return []
        claimed = []
        for message in resp.json()["messages"]:
            href: str = message["href"]
            where, _, query = href.partition("?")
            if not query.startswith("claim_id="):
                raise BenchError(f"claimed message without a claim id: {href}")
            claimed.append(Claimed(where.rsplit("/", 1)[1], int(message["body"]["seq"]), href))
        return claimed

    def delete(self, queue: str, message: Claimed) -> None:
        self._call("DELETE", message.ref, (204,))

    def close(self) -> None:
        self.session.close()


class FloorClient:
    """The same operations on ``SqlDataDriver``, in this process (drivers are thread-safe)."""

    def __init__(self, driver: SqlDataDriver, project: str) -> None:
        self.driver = driver
        self.project = project
        self.client_id = str(uuid.uuid4())

    def post(self, queue: str, bodies: Sequence[Body]) -> list[str]:
        batch = [NewMessage(body, ttl=MESSAGE_TTL) for body in bodies]
        return self.driver.messages.post(self.project, queue, batch, self.client_id)

    def claim(self, queue: str) -> list[Claimed]:
        claim_id, found = self.driver.claims.create(
            self.project, queue, ttl=CLAIM_TTL, grace=CLAIM_GRACE, limit=CLAIM_LIMIT
        )
        if claim_id is None:
            return []
        return [Claimed(m.id, int(m.body["seq"]), claim_id) for m in found]

    def delete(self, queue: str, message: Claimed) -> None:
        self.driver.messages.delete(self.project, queue, message.id, message.ref)

    def close(self) -> None:
        pass
