"""Storage-heavy API flows, run on every backend."""

from __future__ import annotations

import json

import pytest

from sqlqueue.domain.clock import ManualClock
from tests.transport.conftest import ALL_BACKENDS, Api

pytestmark = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)

PATCH = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}


def test_message_lifecycle(api: Api, clock: ManualClock) -> None:
    ids = api.post_messages("jobs", *range(6), ttl=300)
    listed = api.get("/v2/queues/jobs/messages", params={"echo": "true", "limit": 4}).json
    assert [m["id"] for m in listed["messages"]] == ids[:4]
    created = api.post("/v2/queues/jobs/claims", params={"limit": 2}, json={"ttl": 60, "grace": 60})
    assert created.status_code == 201
    href = created.headers["location"]
    claimed = [m["id"] for m in created.json["messages"]]
    assert claimed == ids[:2]
    clock.advance(10)
    assert api.get(href).json["age"] == 10
    assert api.patch(href, json={"ttl": 120}).status_code == 204
    claim_id = href.rsplit("/", 1)[1]
    path = f"/v2/queues/jobs/messages/{claimed[0]}"
    assert api.delete(path).status_code == 403
    assert api.delete(path, params={"claim_id": claim_id}).status_code == 204
    assert api.delete(href).status_code == 204
    popped = api.delete("/v2/queues/jobs/messages", params={"pop": 2}).json["messages"]
    assert [m["id"] for m in popped] == ids[1:3]
    stats = api.get("/v2/queues/jobs/stats").json["messages"]
    assert (stats["free"], stats["claimed"], stats["total"]) == (3, 0, 3)
    query = f"ids={ids[3]},{ids[4]}"
    assert api.delete("/v2/queues/jobs/messages", query_string=query).status_code == 204
    left = api.get("/v2/queues/jobs/messages", params={"echo": "true"}).json["messages"]
    assert [m["id"] for m in left] == ids[5:]


def test_queue_listing_and_metadata(api: Api) -> None:
    for name, kind in (("b", "x"), ("a", "y"), ("c", "x")):
        api.put(f"/v2/queues/{name}", json={"kind": kind})
    page = api.get("/v2/queues", query_string="kind=x&with_count=true&detailed=true").json
    assert [q["name"] for q in page["queues"]] == ["b", "c"]
    assert page["count"] == 2
    assert page["queues"][0]["metadata"]["kind"] == "x"
    ops = [{"op": "replace", "path": "/metadata/kind", "value": "z"}]
    result = api.patch("/v2/queues/a", body=json.dumps(ops), headers=PATCH)
    assert result.json["kind"] == "z"
    assert api.get("/v2/queues/a").json["kind"] == "z"


def test_subscriptions(api: Api) -> None:
    body = {"subscriber": "http://example.com/hook", "options": {"k": "v"}}
    sub_id = api.post("/v2/queues/jobs/subscriptions", json=body).json["subscription_id"]
    again = api.post("/v2/queues/jobs/subscriptions", json=body).json["subscription_id"]
    assert again == sub_id
    path = f"/v2/queues/jobs/subscriptions/{sub_id}"
    api.put(f"{path}/confirm", json={"confirmed": True})
    assert api.post("/v2/queues/jobs/subscriptions", json=body).status_code == 409
    assert api.patch(path, json={"ttl": 120}).status_code == 204
    assert api.get(path).json["ttl"] == 120
    listed = api.get("/v2/queues/jobs/subscriptions").json["subscriptions"]
    assert [s["id"] for s in listed] == [sub_id]
    assert api.post("/v2/queues/jobs/purge").status_code == 204
    assert api.get(path).status_code == 404


def test_awkward_values_round_trip(api: Api) -> None:
    body = {
        "nul": "a\u0000b",
        "emoji": "😀𝄞",
        "big": 2**63 - 1,
        "small": -(2**63),
        "float": 1.5e300,
        "nested": [{"k": [None, True, False]}],
    }
    api.put("/v2/queues/odd", json={"description": "😀\u0000"})
    (mid,) = api.post_messages("odd", body)
    assert api.get(f"/v2/queues/odd/messages/{mid}").json["body"] == body
    assert api.get("/v2/queues/odd").json["description"] == "😀\u0000"
    sub = {"subscriber": "http://example.com/😀", "options": {"x": "\u0000"}}
    sub_id = api.post("/v2/queues/odd/subscriptions", json=sub).json["subscription_id"]
    assert api.get(f"/v2/queues/odd/subscriptions/{sub_id}").json["options"] == {"x": "\u0000"}


def test_isolation(api: Api) -> None:
    other = api.as_project("project-b")
    (mid,) = api.post_messages("jobs", 1)
    assert other.get(f"/v2/queues/jobs/messages/{mid}").status_code == 404
    assert other.post("/v2/queues/jobs/claims").status_code == 204
    assert api.post("/v2/queues/jobs/claims").status_code == 201


def test_garbage_input_is_never_500(api: Api) -> None:
    api.post_messages("jobs", 1)
    queries = ["marker=%00", "name=%00", "marker=" + "z" * 300, "ids=" + "9" * 25, "x=%00"]
    for query in queries:
        for path in ("/v2/queues", "/v2/queues/jobs/messages", "/v2/queues/jobs/subscriptions"):
            assert api.get(path, query_string=query).status_code < 500, (path, query)
    for tail in ("claims/" + "z" * 300, "subscriptions/" + "z" * 300, "messages/" + "9" * 300):
        assert api.get(f"/v2/queues/jobs/{tail}").status_code == 404
