"""Input faults of issue 8, each by its whole kind, over every backend.

Each test sends what a user (or a public bug report) sent and asserts the
answer a client should see: the right status, Zaqar's error body, and the
stored state left as it should be.
"""

from __future__ import annotations

import pytest

from tests.transport.conftest import ALL_BACKENDS, Api

Q = "/v2/queues/jobs"
PATCH_TYPE = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}
every_backend = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)

BEYOND_64_BITS = ["9223372036854775808", "9999999999999999999", "18446744073709551616"]


# 1. Integers outside 64 bits -------------------------------------------------


@every_backend
@pytest.mark.parametrize("marker", BEYOND_64_BITS)
def test_marker_beyond_64_bits_is_an_unknown_marker(api: Api, marker: str) -> None:
    api.post_messages("jobs", 1, 2)
    result = api.get(f"{Q}/messages", query_string=f"marker={marker}&echo=true")
    assert result.status_code == 200, result.text
    assert result.json["messages"] == []


@every_backend
@pytest.mark.parametrize("number", BEYOND_64_BITS)
def test_message_ids_beyond_64_bits_name_no_message(api: Api, number: str) -> None:
    api.post_messages("jobs", 1)
    assert api.get(f"{Q}/messages/{number}").status_code == 404
    assert api.get(f"{Q}/messages", query_string=f"ids={number}").status_code == 404
    assert api.delete(f"{Q}/messages/{number}").status_code == 204
    assert api.delete(f"{Q}/messages", query_string=f"ids={number}").status_code == 204
    assert len(api.get(f"{Q}/messages", query_string="echo=true").json["messages"]) == 1


@every_backend
@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", f"{Q}/messages", "limit"),
        ("DELETE", f"{Q}/messages", "pop"),
        ("POST", f"{Q}/claims", "limit"),
        ("GET", "/v2/queues", "limit"),
        ("GET", f"{Q}/subscriptions", "limit"),
    ],
)
@pytest.mark.parametrize("number", BEYOND_64_BITS)
def test_other_integers_beyond_64_bits_are_refused(
    api: Api, method: str, path: str, query: str, number: str
) -> None:
    api.post_messages("jobs", 1)
    result = api.request(method, path, query_string=f"{query}={number}")
    assert result.status_code == 400, result.text
    assert set(result.json) == {"title", "description"}


@every_backend
@pytest.mark.parametrize(
    ("method", "path", "document"),
    [
        ("POST", f"{Q}/messages", {"messages": [{"body": 1, "ttl": 2**64}]}),
        ("POST", f"{Q}/messages", {"messages": [{"body": 2**63}]}),
        ("POST", f"{Q}/claims", {"ttl": 2**64}),
        ("PUT", "/v2/queues/other", {"_max_claim_count": 2**64}),
        ("POST", f"{Q}/subscriptions", {"subscriber": "http://a.example", "ttl": 2**64}),
    ],
)
def test_body_integers_beyond_64_bits_are_refused(
    api: Api, method: str, path: str, document: object
) -> None:
    import json

    result = api.request(method, path, body=json.dumps(document))
    assert result.status_code == 400, result.text
    assert set(result.json) == {"title", "description"}
