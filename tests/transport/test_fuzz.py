"""Property-based fuzzing of the public API from its own OpenAPI document.

schemathesis generates requests from /v2/openapi.json (valid and invalid)
and sends them to the real app on SQLite: no request may get a 5xx, and
every response must be documented (status, content type, headers, body
schema). A 500 would be a bug; a 503 would mean the storage broke.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from schemathesis import checks as st_checks

from sqlqueue.bootstrap import create_app
from sqlqueue.config import Settings

_DIR = Path(tempfile.mkdtemp(prefix="sqlqueue-fuzz-"))
APP = create_app(
    Settings.from_mapping(
        {"database_url": f"sqlite:///{_DIR / 'fuzz.db'}", "signed_url_secret": "fuzz"}
    )
)
HEADERS = {"Client-ID": "3381af92-2b9e-11e3-b191-71861300734c", "X-Project-Id": "fuzz"}
CHECKS: list[Any] = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]

schemathesis.serializer.alias("application/openstack-messaging-v2.0-json-patch", "application/json")
schema = schemathesis.openapi.from_wsgi("/v2/openapi.json", APP)


@schema.exclude(path="/v2/").parametrize()
@hypothesis.settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_never_fails_and_matches_its_document(case: Any) -> None:
    case.call_and_validate(headers=HEADERS, checks=CHECKS)
