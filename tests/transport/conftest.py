"""Fixtures of the in-process API tests: a Falcon TestClient over a real driver.

Tests run on SQLite unless they ask for every backend with
``@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)``.
"""

from __future__ import annotations

import uuid
from typing import Any

import falcon.testing
import pytest
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import create_app
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.limits import Limits
from sqlqueue.storage.sql.driver import SqlDataDriver

ALL_BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
SECRET = "test-secret"
PROJECT = "project-a"


class Api:
    """A TestClient that sends Client-ID and X-Project-Id unless told otherwise."""

    def __init__(self, app: Any, project: str = PROJECT) -> None:
        self.client = falcon.testing.TestClient(app)
        self.client_id = str(uuid.uuid4())
        self.project = project

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Default headers, overridden by ``extra``."""
        found = {"Client-ID": self.client_id, "X-Project-Id": self.project}
        found.update(extra or {})
        return {k: v for k, v in found.items() if v is not None}

    def request(
        self, method: str, path: str, *, headers: dict[str, Any] | None = None, **kw: Any
    ) -> falcon.testing.Result:
        """Send one request."""
        return self.client.simulate_request(method, path, headers=self.headers(headers), **kw)

    def get(self, path: str, **kw: Any) -> falcon.testing.Result:
        """GET ``path``."""
        return self.request("GET", path, **kw)

    def put(self, path: str, **kw: Any) -> falcon.testing.Result:
        """PUT ``path``."""
        return self.request("PUT", path, **kw)

    def post(self, path: str, **kw: Any) -> falcon.testing.Result:
        """POST ``path``."""
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> falcon.testing.Result:
        """PATCH ``path``."""
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> falcon.testing.Result:
        """DELETE ``path``."""
        return self.request("DELETE", path, **kw)

    def as_project(self, project: str) -> Api:
        """The same app seen from another project."""
        other = Api(self.client.app, project)
        return other

    def post_messages(self, queue: str, *bodies: Any, **fields: Any) -> list[str]:
        """Post one message per body; their ids."""
        messages = [{"body": body, **fields} for body in bodies]
        result = self.post(f"/v2/queues/{queue}/messages", json={"messages": messages})
        assert result.status_code == 201, result.text
        return [href.rsplit("/", 1)[1] for href in result.json["resources"]]


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite)])
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite unless a test parametrises ``backend`` itself."""
    return str(request.param)


@pytest.fixture
def limits() -> Limits:
    """The limits the app runs with (Zaqar's defaults)."""
    return Limits()


@pytest.fixture
def settings(limits: Limits) -> Settings:
    """Settings of the app under test."""
    return Settings(database_url="sqlite://", signed_url_secret=SECRET, limits=limits)


@pytest.fixture
def driver(engine: Engine, clock: ManualClock) -> SqlDataDriver:
    """The driver under the app."""
    return SqlDataDriver(engine, clock=clock)


@pytest.fixture
def api(settings: Settings, driver: SqlDataDriver, clock: ManualClock) -> Api:
    """The API of project ``project-a``."""
    return Api(create_app(settings, driver=driver, clock=clock))
