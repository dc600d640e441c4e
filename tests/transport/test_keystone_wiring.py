"""The Keystone wiring without a Keystone: what auth_token decides on its own.

A request without a token is refused before Keystone is asked, and a
pre-signed URL never reaches auth_token, so both run in-process here. Token
validation against a real Keystone is in tests/e2e/test_keystone.py.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import openapi_spec_validator
import pytest

from sqlqueue.bootstrap import create_app
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.errors import ValidationFailed
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.transport.wsgi.v2 import documents
from tests.e2e.conftest import command, free_port
from tests.transport.conftest import SECRET, Api
from tests.transport.test_share import share, signed_headers

NOWHERE = "http://127.0.0.1:9/v3"
"""A Keystone that does not answer (never asked by these tests)."""


def keystone_settings(settings: Settings, **changes: object) -> Settings:
    keystone: dict[str, object] = {
        "auth_strategy": "keystone",
        "keystone_auth_url": NOWHERE,
        "keystone_username": "sqlqueue",
        "keystone_password": "secret",
    }
    return dataclasses.replace(settings, **(keystone | changes))  # type: ignore[arg-type]


@pytest.fixture
def guarded(settings: Settings, driver: SqlDataDriver, clock: ManualClock) -> Api:
    return Api(create_app(keystone_settings(settings), driver=driver, clock=clock))


def test_no_token_is_a_401_with_zaqars_body(guarded: Api) -> None:
    for path in ("/v2/queues", "/v2/queues/jobs/messages", "/v2/ping", "/v2/"):
        answer = guarded.get(path)
        assert answer.status_code == 401
        assert answer.json == {
            "title": "Unauthorized",
            "description": "The request you have made requires authentication.",
        }
        assert answer.headers["WWW-Authenticate"] == f'Keystone uri="{NOWHERE}"'


def test_refusals_are_in_the_access_log(guarded: Api) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    access = logging.getLogger("sqlqueue.access")
    level = access.level
    access.addHandler(handler)  # on the logger itself: other tests may stop propagation
    access.setLevel(logging.INFO)
    try:
        guarded.get("/v2/queues")
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert [r.getMessage().split(" ", 1)[1] for r in records] == [
        '"GET /v2/queues" 401 refused by Keystone auth_token'
    ]
    assert records[0].access["status"] == 401  # type: ignore[attr-defined]


def test_the_versions_document_needs_no_token(guarded: Api) -> None:
    answer = guarded.get("/", headers={"X-Project-Id": None, "Client-ID": None})
    assert answer.status_code == 300
    assert answer.json["versions"]


def test_the_www_authenticate_uri_can_differ_from_the_service_users(
    settings: Settings, driver: SqlDataDriver
) -> None:
    public = "https://keystone.example.com/v3"
    configured = keystone_settings(settings, keystone_www_authenticate_uri=public)
    answer = Api(create_app(configured, driver=driver)).get("/v2/queues")
    assert answer.headers["WWW-Authenticate"] == f'Keystone uri="{public}"'


def test_a_signed_url_needs_no_token(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    open_api = Api(create_app(settings, driver=driver, clock=clock))
    open_api.post_messages("jobs", {"n": 1})
    doc = share(open_api)
    guarded = Api(create_app(keystone_settings(settings), driver=driver, clock=clock))
    listed = guarded.get("/v2/queues/jobs/messages?echo=true", headers=signed_headers(doc))
    assert listed.status_code == 200, listed.text
    assert [m["body"] for m in listed.json["messages"]] == [{"n": 1}]
    forged = signed_headers(doc, **{"URL-Signature": "0" * 64})
    refused = guarded.get("/v2/queues/jobs/messages", headers=forged)
    assert (refused.status_code, refused.json["description"]) == (404, "Invalid signed URL.")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"auth_strategy": "basic"}, "auth_strategy must be one of noauth, keystone, not 'basic'"),
        (
            {"keystone_password": "", "keystone_auth_url": ""},
            "auth_strategy = keystone needs keystone_auth_url, keystone_password",
        ),
    ],
)
def test_set_ups_that_cannot_work_are_refused(
    settings: Settings, driver: SqlDataDriver, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        create_app(keystone_settings(settings, **changes), driver=driver)
    assert str(refused.value) == message


def test_serve_refuses_them_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
    env["SQLQUEUE_AUTH_STRATEGY"] = "keystone"
    args = ["serve", "--port", str(free_port()), "--database-url", f"sqlite:///{tmp_path}/x.db"]
    done = subprocess.run([*command(), *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (
        "sqlqueue: auth_strategy = keystone needs keystone_auth_url, "
        "keystone_username, keystone_password\n"
    )
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


def test_noauth_never_imports_keystone(tmp_path: Path) -> None:
    code = (
        "import sys; from sqlqueue.bootstrap import create_app; from sqlqueue.config import"
        f" Settings; create_app(Settings(database_url='sqlite:///{tmp_path}/x.db',"
        f" signed_url_secret='{SECRET}'));"
        " found = [m for m in sys.modules if m.split('.')[0] in"
        " ('keystonemiddleware', 'keystoneauth1', 'oslo_config')]; assert not found, found"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("admin", [False, True])
def test_the_openapi_document_names_the_token(admin: bool) -> None:
    doc = documents.openapi(admin, keystone=True)
    openapi_spec_validator.validate(doc)
    scheme = doc["components"]["securitySchemes"]["keystone"]
    assert (scheme["in"], scheme["name"]) == ("header", "X-Auth-Token")
    assert doc["security"] == [{"keystone": []}]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert ("401" in op["responses"]) == (path != "/"), (method, path)
    assert doc["paths"]["/"]["get"]["security"] == []
    plain = documents.openapi(admin)
    assert "security" not in plain and "securitySchemes" not in plain["components"]
