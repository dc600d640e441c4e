"""Admin documents longer, once stored, than their column: 400 naming the limit."""

from __future__ import annotations

import json

from tests.admin.conftest import Site
from tests.transport.conftest import Api

INFLATING = [1e9] * 6_000
"""24 KB sent; about 78 KB once stored (1000000000.0 each)."""


def raw_json(document: object) -> str:
    return json.dumps(document).replace("1000000000.0", "1e9")


def test_pool_options_too_large_once_stored_are_refused(site: Site, admin: Api) -> None:
    uri = site.sqlite_url("a")
    result = admin.put(
        "/v2/pools/a", body=raw_json({"uri": uri, "weight": 1, "options": {"n": INFLATING}})
    )
    assert result.status_code == 400, result.text
    assert "Max size: 65535 bytes" in result.json["description"]
    assert admin.get("/v2/pools/a").status_code == 404
    site.put_pool("a", uri)
    result = admin.patch("/v2/pools/a", body=raw_json({"options": {"n": INFLATING}}))
    assert result.status_code == 400, result.text
    assert admin.get("/v2/pools/a", query_string="detailed=true").json["options"] == {}


def test_flavor_capabilities_too_large_once_stored_are_refused(site: Site, admin: Api) -> None:
    site.put_pool("a", site.sqlite_url("a"))
    body = raw_json({"pool_list": ["a"], "capabilities": {"n": INFLATING}})
    result = admin.put("/v2/flavors/gold", body=body)
    assert result.status_code == 400, result.text
    assert "Max size: 65535 bytes" in result.json["description"]
    assert admin.get("/v2/flavors/gold").status_code == 404
