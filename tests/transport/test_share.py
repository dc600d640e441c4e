"""Pre-signed URLs: creating a share and using it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sqlqueue.domain.clock import ManualClock
from tests.transport.conftest import Api


def share(api: Api, **body: object) -> dict[str, object]:
    result = api.post("/v2/queues/jobs/share", json=body)
    assert result.status_code == 200, result.text
    doc: dict[str, object] = result.json
    return doc


def signed_headers(doc: dict[str, object], **extra: str) -> dict[str, str]:
    headers = {
        "URL-Signature": str(doc["signature"]),
        "URL-Expires": str(doc["expires"]),
        "URL-Methods": ",".join(doc["methods"]),  # type: ignore[arg-type]
        "URL-Paths": ",".join(doc["paths"]),  # type: ignore[arg-type]
        "X-Project-Id": str(doc["project"]),
        "Client-ID": str(uuid.uuid4()),
    }
    headers.update(extra)
    return headers


def test_share_defaults(api: Api, clock: ManualClock) -> None:
    doc = share(api)
    assert doc["paths"] == ["/v2/queues/jobs/messages"]
    assert doc["methods"] == ["GET"]
    assert doc["project"] == "project-a"
    tomorrow = datetime.fromtimestamp(clock() + 86400, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert doc["expires"] == tomorrow
    assert len(str(doc["signature"])) == 64


def test_share_sorted_and_explicit_expiry(api: Api, clock: ManualClock) -> None:
    expires = datetime.fromtimestamp(clock() + 60, UTC).replace(tzinfo=None)
    doc = share(
        api,
        paths=["subscriptions", "messages", "claims"],
        methods=["POST", "GET"],
        expires=expires.isoformat(),
    )
    assert doc["paths"] == [
        "/v2/queues/jobs/claims",
        "/v2/queues/jobs/messages",
        "/v2/queues/jobs/subscriptions",
    ]
    assert doc["methods"] == ["GET", "POST"]
    assert doc["expires"] == expires.strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize(
    "body",
    [
        {"paths": ["queues"]},
        {"paths": []},
        {"methods": ["FETCH"]},
        {"methods": "GET"},
        {"expires": 12345},
        {"expires": "tomorrow"},
        {"expires": "2000-01-01T00:00:00"},
        {"project_id": "other"},
        [],
    ],
)
def test_share_invalid(api: Api, body: object) -> None:
    assert api.post("/v2/queues/jobs/share", json=body).status_code == 400


def test_signed_request_works(api: Api) -> None:
    api.post_messages("jobs", 1)
    doc = share(api)
    result = api.get("/v2/queues/jobs/messages", headers=signed_headers(doc))
    assert result.status_code == 200
    assert len(result.json["messages"]) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        {"URL-Signature": "0" * 64},
        {"URL-Methods": "GET,POST"},
        {"URL-Paths": "/v2/queues/other/messages"},
        {"X-Project-Id": "project-b"},
        {"URL-Expires": "2999-01-01T00:00:00"},
        {"URL-Expires": "garbage"},
    ],
)
def test_tampered_signature_is_404(api: Api, tamper: dict[str, str]) -> None:
    doc = share(api)
    result = api.get("/v2/queues/jobs/messages", headers=signed_headers(doc, **tamper))
    assert result.status_code == 404


def test_signature_limits_method_and_path(api: Api) -> None:
    doc = share(api)
    headers = signed_headers(doc)
    assert api.post("/v2/queues/jobs/claims", headers=headers).status_code == 404
    assert api.delete("/v2/queues/jobs/messages", headers=headers).status_code == 404


def test_expired_signature_is_404(api: Api, clock: ManualClock) -> None:
    expires = datetime.fromtimestamp(clock(), UTC) + timedelta(seconds=30)
    doc = share(api, expires=expires.isoformat())
    clock.advance(31)
    result = api.get("/v2/queues/jobs/messages", headers=signed_headers(doc))
    assert result.status_code == 404
