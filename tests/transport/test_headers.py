"""The checks every /v2 request passes: headers, media types, queue names."""

from __future__ import annotations

import uuid

import pytest

from sqlqueue.config import Settings
from sqlqueue.domain.limits import Limits
from tests.transport.conftest import Api


def test_missing_client_id(api: Api) -> None:
    result = api.get("/v2/queues", headers={"Client-ID": None})
    assert result.status_code == 400
    assert set(result.json) == {"title", "description"}


@pytest.mark.parametrize("value", ["not-a-uuid", "1234", "g" * 32, ""])
def test_malformed_client_id(api: Api, value: str) -> None:
    assert api.get("/v2/queues", headers={"Client-ID": value}).status_code == 400


@pytest.mark.parametrize(
    "value",
    [
        uuid.uuid4().hex,
        str(uuid.uuid4()),
        "{" + str(uuid.uuid4()) + "}",
        "urn:uuid:" + str(uuid.uuid4()),
        str(uuid.uuid4()).upper(),
    ],
)
def test_client_id_forms_python_accepts(api: Api, value: str) -> None:
    assert api.get("/v2/queues", headers={"Client-ID": value}).status_code == 200


@pytest.mark.parametrize("limits", [Limits(client_id_uuid_safe="off")])
def test_client_id_unchecked_mode_checks_length(api: Api) -> None:
    assert api.get("/v2/queues", headers={"Client-ID": "worker-0001"}).status_code == 200
    assert api.get("/v2/queues", headers={"Client-ID": "short"}).status_code == 400
    assert api.get("/v2/queues", headers={"Client-ID": "x" * 37}).status_code == 400


def test_missing_project(api: Api) -> None:
    result = api.get("/v2/queues", headers={"X-Project-Id": None})
    assert result.status_code == 400
    assert result.json["description"] == "Project-Id Missing"


@pytest.mark.parametrize(
    "settings", [Settings(database_url="sqlite://", noauth_project="ops")], ids=["noauth_project"]
)
def test_noauth_project_stands_in_for_a_missing_header(api: Api) -> None:
    assert api.put("/v2/queues/jobs", headers={"X-Project-Id": None}).status_code == 201
    assert api.as_project("ops").get("/v2/queues").json["queues"] == [
        {"name": "jobs", "href": "/v2/queues/jobs"}
    ]
    assert api.get("/v2/queues", headers={"X-Project-Id": ""}).status_code == 400


def test_empty_project(api: Api) -> None:
    result = api.get("/v2/queues", headers={"X-Project-Id": ""})
    assert result.status_code == 400
    assert result.json["description"] == "Empty project header not allowed"


def test_long_project(api: Api) -> None:
    assert api.get("/v2/queues", headers={"X-Project-Id": "p" * 256}).status_code == 200
    assert api.get("/v2/queues", headers={"X-Project-Id": "p" * 257}).status_code == 400


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "image/*"])
def test_accept_without_json_is_406(api: Api, accept: str) -> None:
    result = api.get("/v2/queues", headers={"Accept": accept})
    assert result.status_code == 406
    assert result.headers["content-type"].startswith("application/json")
    assert set(result.json) == {"title", "description"}


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/*", "text/*, */*"])
def test_accept_allowing_json(api: Api, accept: str) -> None:
    assert api.get("/v2/queues", headers={"Accept": accept}).status_code == 200


def test_form_encoded_body_is_400(api: Api) -> None:
    result = api.put(
        "/v2/queues/q",
        body="a=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert result.status_code == 400
    assert api.get("/v2/queues/q/stats").json["messages"]["total"] == 0


def test_form_content_type_without_body_is_fine(api: Api) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert api.get("/v2/queues", headers=headers).status_code == 200


@pytest.mark.parametrize("name", ["a", "A-b_c.d", "x" * 64, "0.1"])
def test_valid_queue_names(api: Api, name: str) -> None:
    assert api.put(f"/v2/queues/{name}").status_code == 201


@pytest.mark.parametrize("name", ["x" * 65, "a b", "caf%C3%A9", "a%0A", "a%00", "a*b", "%E2%82%AC"])
def test_invalid_queue_names(api: Api, name: str) -> None:
    for method in ("PUT", "GET", "DELETE"):
        assert api.request(method, f"/v2/queues/{name}").status_code == 400
    assert api.get(f"/v2/queues/{name}/messages").status_code == 400
    assert api.post(f"/v2/queues/{name}/claims").status_code == 400
