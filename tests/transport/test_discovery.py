"""Versions, the home document, OpenAPI and ping."""

from __future__ import annotations

from dataclasses import replace

from sqlqueue.bootstrap import create_app
from sqlqueue.config import Settings
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.transport.conftest import Api


def test_versions_need_no_headers(api: Api) -> None:
    result = api.client.simulate_get("/")
    assert result.status_code == 300
    (version,) = result.json["versions"]
    assert version["id"] == "2"
    assert version["status"] == "CURRENT"
    assert version["links"] == [{"href": "/v2/", "rel": "self"}]
    assert version["media-types"][0]["type"] == "application/vnd.openstack.messaging-v2+json"


def test_home_document(api: Api) -> None:
    result = api.get("/v2/")
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/json-home"
    assert result.headers["cache-control"] == "max-age=86400"
    resources = result.json["resources"]
    assert resources["rel/queues"]["href-template"].startswith("/v2/queues{?marker,limit")
    assert "POST" in resources["rel/messages"]["hints"]["allow"]


def test_trailing_slash_matters(api: Api) -> None:
    assert api.get("/v2").status_code == 404


def test_home_document_needs_client_id(api: Api) -> None:
    assert api.get("/v2/", headers={"Client-ID": None}).status_code == 400


def test_openapi_lists_every_route(api: Api) -> None:
    result = api.client.simulate_get("/v2/openapi.json")
    assert result.status_code == 200
    doc = result.json
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]["/v2/queues/{queue_name}"]) == {"put", "get", "patch", "delete"}
    assert "post" in doc["paths"]["/v2/queues/{queue_name}/claims"]


def test_ping(api: Api) -> None:
    assert api.get("/v2/ping").status_code == 204
    head = api.request("HEAD", "/v2/ping")
    assert head.status_code == 204
    assert head.text == ""


def test_ping_needs_headers(api: Api) -> None:
    assert api.get("/v2/ping", headers={"X-Project-Id": None}).status_code == 400


def test_request_id_header(api: Api) -> None:
    first = api.get("/v2/ping").headers["x-openstack-request-id"]
    second = api.get("/v2/queues/nope/stats").headers["x-openstack-request-id"]
    assert first.startswith("req-")
    assert first != second


def test_unknown_route_is_404_json(api: Api) -> None:
    result = api.get("/v2/nothing/here")
    assert result.status_code == 404
    assert set(result.json) == {"title", "description"}


def test_unsupported_method_is_405(api: Api) -> None:
    assert api.request("HEAD", "/v2/queues/q").status_code == 405
    assert api.post("/v2/queues/q").status_code == 405
    assert api.put("/v2/queues/q/stats").status_code == 405


def test_health_only_in_admin_mode(api: Api, settings: Settings, driver: SqlDataDriver) -> None:
    assert api.get("/v2/health").status_code == 404
    admin = Api(create_app(replace(settings, admin_mode=True), driver=driver))
    result = admin.get("/v2/health")
    assert result.status_code == 200
    assert result.json == {"storage_reachable": True}
