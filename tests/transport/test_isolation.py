"""Projects are isolated: the same names in another project are other things."""

from __future__ import annotations

from tests.transport.conftest import Api


def test_queues_are_per_project(api: Api) -> None:
    other = api.as_project("project-b")
    api.put("/v2/queues/jobs", json={"owner": "a"})
    assert other.get("/v2/queues").json["queues"] == []
    assert "owner" not in other.get("/v2/queues/jobs").json
    assert other.put("/v2/queues/jobs", json={"owner": "b"}).status_code == 201
    assert api.get("/v2/queues/jobs").json["owner"] == "a"
    other.delete("/v2/queues/jobs")
    assert api.get("/v2/queues/jobs").json["owner"] == "a"


def test_messages_are_per_project(api: Api) -> None:
    other = api.as_project("project-b")
    (mid,) = api.post_messages("jobs", "secret")
    assert other.get(f"/v2/queues/jobs/messages/{mid}").status_code == 404
    assert other.get("/v2/queues/jobs/messages", params={"ids": mid}).status_code == 404
    params = {"echo": "true", "include_claimed": "true"}
    assert other.get("/v2/queues/jobs/messages", params=params).json["messages"] == []
    assert other.delete(f"/v2/queues/jobs/messages/{mid}").status_code == 204
    assert other.delete("/v2/queues/jobs/messages", params={"ids": mid}).status_code == 204
    assert other.delete("/v2/queues/jobs/messages", params={"pop": 5}).json == {"messages": []}
    assert other.post("/v2/queues/jobs/claims").status_code == 204
    assert other.post("/v2/queues/jobs/purge").status_code == 204
    assert other.get("/v2/queues/jobs/stats").json["messages"]["total"] == 0
    assert api.get(f"/v2/queues/jobs/messages/{mid}").json["body"] == "secret"


def test_claims_are_per_project(api: Api) -> None:
    other = api.as_project("project-b")
    (mid,) = api.post_messages("jobs", 1)
    href = api.post("/v2/queues/jobs/claims").headers["location"]
    claim_id = href.rsplit("/", 1)[1]
    assert other.get(href).status_code == 404
    assert other.patch(href, json={"ttl": 60}).status_code == 404
    assert other.delete(href).status_code == 204
    path = f"/v2/queues/jobs/messages/{mid}"
    assert other.delete(path, params={"claim_id": claim_id}).status_code == 204
    assert api.get(href).status_code == 200
    assert api.delete(path).status_code == 403


def test_subscriptions_are_per_project(api: Api) -> None:
    other = api.as_project("project-b")
    body = {"subscriber": "http://example.com/hook"}
    sub_id = api.post("/v2/queues/jobs/subscriptions", json=body).json["subscription_id"]
    path = f"/v2/queues/jobs/subscriptions/{sub_id}"
    assert other.get(path).status_code == 404
    assert other.patch(path, json={"ttl": 100}).status_code == 404
    assert other.put(f"{path}/confirm", json={"confirmed": True}).status_code == 404
    assert other.delete(path).status_code == 204
    assert other.get("/v2/queues/jobs/subscriptions").json["subscriptions"] == []
    other_id = other.post("/v2/queues/jobs/subscriptions", json=body).json["subscription_id"]
    assert other_id != sub_id
    assert api.get(path).json["confirmed"] is False


def test_share_is_per_project(api: Api) -> None:
    other = api.as_project("project-b")
    other.post_messages("jobs", "b's")
    doc = api.post("/v2/queues/jobs/share").json
    headers = {
        "URL-Signature": doc["signature"],
        "URL-Expires": doc["expires"],
        "URL-Methods": "GET",
        "URL-Paths": doc["paths"][0],
        "X-Project-Id": "project-a",
    }
    listed = api.get("/v2/queues/jobs/messages", headers=headers).json
    assert listed["messages"] == []
