"""The OpenAPI documents are true to the apps that serve them.

Every (path, method) the app routes is documented and nothing else is;
every answer, success or error, has a status documented for its operation
and a body valid against the documented schema; and every documented
status is seen: success and specific errors on tours of real apps (SQLite),
400/404/406 on every operation from the request guard, 503 on every
operation over the storage from apps whose database is down, and 403 on
every operation that needs the admin role.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import falcon.testing
import openapi_spec_validator
import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from sqlqueue.bootstrap import create_app, create_storage, storage_options
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.transport.wsgi.v2 import documents
from tests.admin.conftest import DOWN, build_site
from tests.transport.conftest import SECRET, Api

pytestmark = pytest.mark.sqlite

Doc = dict[str, Any]
BASE = "urn:sqlqueue:openapi"
DOCS = {
    "public": documents.openapi(admin=False),
    "admin": documents.openapi(admin=True, metrics=True),  # metrics_endpoint = "admin"
}
GUARD = {"400", "404", "406"}
SAMPLES = {
    "queue_name": "jobs",
    "topic_name": "news",
    "message_id": "1",
    "claim_id": "a" * 32,
    "subscription_id": "b" * 32,
    "pool_name": "p1",
    "flavor_name": "f1",
}
BODIES: dict[str, Any] = {
    "NewMessages": {"messages": [{"body": {"n": 1}, "ttl": 60}]},
    "ClaimRequest": {"ttl": 60},
    "QueueMetadataRequest": {"description": "d"},
    "QueueMetadataPatch": [{"op": "add", "path": "/metadata/a", "value": 1}],
    "NewSubscription": {"subscriber": "http://example.com/hook"},
    "SubscriptionUpdate": {"ttl": 100},
    "Confirmation": {"confirmed": True},
    "ShareRequest": {"methods": ["GET"]},
    "PurgeRequest": {"resource_types": ["messages"]},
    "NewPool": {"uri": "sqlite:///{tmp}/sample.db", "weight": 1},
    "PoolUpdate": {"weight": 2},
    "FlavorRequest": {"pool_list": ["p1"]},
    "QueueMove": {"pool": "p1"},
}
"""A valid body for each request schema (sent where an operation needs one)."""


def escape(part: str) -> str:
    """A JSON-pointer token."""
    return part.replace("~", "~0").replace("/", "~1")


def leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    """The innermost errors (those under ``oneOf`` branches included)."""
    for error in errors:
        if error.context:
            yield from leaves(error.context)
        else:
            yield error


class Contract:
    """One OpenAPI document: checks answers against it and records what it saw."""

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.registry: Registry[Any] = Registry().with_resource(
            BASE, DRAFT202012.create_resource(doc)
        )
        self.seen: set[tuple[str, str, str]] = set()

    def template(self, path: str) -> str:
        """The documented path template ``path`` matches."""
        templates: list[str] = list(self.doc["paths"])
        for template in templates:
            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
                return template
        raise AssertionError(f"{path} matches no documented path")

    def operation(self, template: str, method: str) -> Doc:
        """The documented operation (fails when undocumented)."""
        found: Doc | None = self.doc["paths"][template].get(method.lower())
        assert found is not None, f"{method} {template} is not documented"
        return found

    def validate(self, pointer: str, instance: Any) -> str | None:
        """Why ``instance`` fails the schema at ``pointer`` in the document, if it does."""
        validator = Draft202012Validator({"$ref": f"{BASE}#{pointer}"}, registry=self.registry)
        found = list(leaves(validator.iter_errors(instance)))
        if not found:
            return None
        deepest = max(found, key=lambda error: len(error.absolute_path))
        return f"{deepest.json_path}: {deepest.message}"

    def check(self, method: str, path: str, result: falcon.testing.Result) -> None:
        """The status is documented for the operation; headers and body are as documented."""
        template = self.template(path)
        responses = self.operation(template, method)["responses"]
        status = str(result.status_code)
        assert status in responses, f"{method} {path}: undocumented {status} {result.text}"
        pointer = f"/paths/{escape(template)}/{method.lower()}/responses/{status}"
        response = responses[status]
        if "$ref" in response:
            pointer = response["$ref"][1:]
            response = self.registry.resolver(BASE).lookup(response["$ref"]).contents
        for header in response.get("headers", {}):
            assert result.headers.get(header), f"{method} {path}: no {header} header"
        content = response.get("content")
        if method == "HEAD" or not content:
            assert result.text == "", f"{method} {path} → {status}: unexpected body"
        else:
            ((media, _),) = content.items()
            assert result.headers["content-type"].split(";")[0] == media
            body = result.text if media.startswith("text/") else result.json
            error = self.validate(f"{pointer}/content/{escape(media)}/schema", body)
            assert error is None, f"{method} {path} → {status}: {error}"
        self.seen.add((template, method, status))

    def statuses(self, paths: set[str] | None = None) -> set[tuple[str, str, str]]:
        """Every documented (template, method, status), of ``paths`` if given."""
        return {
            (template, method.upper(), status)
            for template, item in self.doc["paths"].items()
            if paths is None or template in paths
            for method, op in item.items()
            for status in op["responses"]
        }


def needs_role(op: Doc) -> bool:
    """Whether the operation needs the admin role (it documents X-Roles)."""
    return {"$ref": "#/components/parameters/Roles"} in op["parameters"]


def send(contract: Contract, api: Api, method: str, target: str, **kw: Any) -> Any:
    """Send a request and check its answer against the contract."""
    path, _, query = target.partition("?")
    result = api.request(method, path, query_string=query, **kw)
    contract.check(method, path, result)
    return result


class Tour:
    """Requests through one app, each checked, each with the status the test expects."""

    def __init__(self, api: Api, contract: Contract) -> None:
        self.api = api
        self.contract = contract

    def __call__(self, method: str, target: str, expect: int, **kw: Any) -> Any:
        result = send(self.contract, self.api, method, target, **kw)
        assert result.status_code == expect, f"{method} {target}: {result.text}"
        if result.headers.get("content-type", "").startswith("text/"):
            return result.text
        return result.json if result.text else None

    def missed(self, paths: set[str]) -> set[tuple[str, str, str]]:
        """Documented statuses of ``paths`` the tour did not see (guard, 503, role aside)."""
        missing = self.contract.statuses(paths) - self.contract.seen
        return {
            (t, m, s)
            for t, m, s in missing
            if s not in GUARD | {"503"}
            and not (s == "403" and needs_role(self.contract.operation(t, m)))
        }


def concrete(template: str) -> str:
    """A path of ``template`` with sample values."""
    return re.sub(r"\{([^}]+)\}", lambda m: SAMPLES[m.group(1)], template)


def operations(which: str) -> list[tuple[str, str, str]]:
    """(document, path template, method) of every documented operation."""
    return [
        (which, template, method.upper())
        for template, item in DOCS[which]["paths"].items()
        for method in item
    ]


EVERY_OPERATION = operations("public") + operations("admin")


def request_parts(op: Doc, tmp: Path) -> dict[str, Any]:
    """A valid body (and its content type) for an operation that takes one."""
    if "requestBody" not in op:
        return {}
    ((media, spec),) = op["requestBody"]["content"].items()
    name = spec["schema"]["$ref"].rsplit("/", 1)[1]
    body = json.dumps(BODIES[name]).replace("{tmp}", str(tmp))
    return {"body": body, "headers": {"Content-Type": media}}


class DownApps:
    """Apps over databases nobody listens to (guards answer before any storage)."""

    def __init__(self) -> None:
        base = Settings(database_url=DOWN, signed_url_secret=SECRET)
        admin = replace(base, admin_mode=True)
        self.driver = SqlDataDriver.from_url(DOWN)
        self.storage = create_storage(base)
        self.public = Api(create_app(base, driver=self.driver))
        self.bare_admin = Api(create_app(admin, driver=self.driver))
        self.admin = Api(create_app(admin, storage=self.storage))
        roles = replace(admin, noauth_admin=False)
        self.roles = Api(create_app(roles, storage=self.storage))

    def app(self, which: str) -> Api:
        """The down app serving document ``which``."""
        return self.admin if which == "admin" else self.public


@pytest.fixture(scope="module")
def down() -> Any:
    apps = DownApps()
    yield apps
    apps.storage.close()
    apps.driver.close()


PAGES = "sqlqueue.transport.wsgi.dashboard"
"""The admin dashboard's HTML pages: a UI over the API, not API operations
(docs/dashboard.md describes them; tests/admin/test_dashboard.py tests them)."""


def routed(api: Api) -> set[tuple[str, str]]:
    """(URI template, method) of every responder the app's router holds (not
    Falcon's own, nor the dashboard's pages)."""
    found: set[tuple[str, str]] = set()
    nodes = list(api.client.app._router._roots)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.children)
        if node.resource is None:
            continue
        for method, responder in (node.method_map or {}).items():
            if not getattr(responder, "__module__", "").startswith(("falcon.", PAGES)):
                found.add((str(node.uri_template), method))
    return found


def documented(api: Api) -> set[tuple[str, str]]:
    """(path, method) of every operation in the document the app serves."""
    doc = api.client.simulate_get("/v2/openapi.json").json
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item}


@pytest.mark.parametrize("which", ["public", "admin"])
def test_document_is_valid_openapi_3_1(which: str) -> None:
    doc = DOCS[which]
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    contract = Contract(doc)
    for name, body in BODIES.items():
        assert contract.validate(f"/components/schemas/{name}", body) is None, name
    openapi_spec_validator.validate(doc)


@pytest.mark.parametrize("which", ["public", "admin"])
def test_documented_operations_are_the_routed_ones(down: DownApps, which: str) -> None:
    api = down.app(which)
    assert api.client.simulate_get("/v2/openapi.json").json == json.loads(json.dumps(DOCS[which]))
    assert documented(api) == routed(api)


def test_bare_admin_app_documents_what_it_routes(down: DownApps) -> None:
    assert documented(down.bare_admin) == routed(down.bare_admin)


@pytest.mark.parametrize(("which", "template", "method"), EVERY_OPERATION)
def test_guard_errors_are_documented(
    down: DownApps, which: str, template: str, method: str
) -> None:
    contract, api, path = Contract(DOCS[which]), down.app(which), concrete(template)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refusals: dict[int, dict[str, Any]] = {
        400: {"headers": form, "body": "a=1"},
        404: {"headers": {"URL-Signature": "0" * 64}},
        406: {"headers": {"Accept": "application/xml"}},
    }
    for status, kw in refusals.items():
        assert send(contract, api, method, path, **kw).status_code == status
    for other in {"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"} - {
        m.upper() for m in DOCS[which]["paths"][template]
    }:
        assert api.request(other, path).status_code == 405, (other, path)


@pytest.mark.parametrize(("which", "template", "method"), EVERY_OPERATION)
def test_storage_down_is_documented(
    down: DownApps, tmp_path: Path, which: str, template: str, method: str
) -> None:
    contract, api = Contract(DOCS[which]), down.app(which)
    op = contract.operation(template, method)
    query = "ids=1" if method == "DELETE" and template.endswith("/messages") else ""
    result = send(
        contract, api, method, f"{concrete(template)}?{query}", **request_parts(op, tmp_path)
    )
    assert (result.status_code == 503) == ("503" in op["responses"]), result.text


@pytest.mark.parametrize(("which", "template", "method"), operations("admin"))
def test_admin_role_is_documented(
    down: DownApps, tmp_path: Path, which: str, template: str, method: str
) -> None:
    contract = Contract(DOCS[which])
    op = contract.operation(template, method)
    parts = request_parts(op, tmp_path)
    target = concrete(template) + ("?ids=1" if template.endswith("/messages") else "")
    without = send(contract, down.roles, method, target, **parts)
    assert (without.status_code == 403) == needs_role(op), without.text
    headers = {**parts.get("headers", {}), "X-Roles": "member, admin"}
    with_role = send(contract, down.roles, method, target, **{**parts, "headers": headers})
    assert with_role.status_code != 403, with_role.text


Q = "/v2/queues/jobs"
PATCH_TYPE = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments sending a JSON-patch body."""
    return {"body": json.dumps(list(ops)), "headers": PATCH_TYPE}


def tour_discovery(t: Tour) -> None:
    t("GET", "/", 300)
    t("GET", "/v2/", 200)
    t("GET", "/v2/openapi.json", 200)
    t("GET", "/v2/ping", 204)
    t("HEAD", "/v2/ping", 204)


def tour_queues(t: Tour) -> None:
    t("GET", "/v2/queues", 200)
    t("PUT", Q, 201, json={"description": "jobs", "_default_message_ttl": 120})
    t("PUT", Q, 204)
    t("PUT", "/v2/queues/audit.log", 201)
    t("PUT", "/v2/queues/bad", 400, json={"_default_message_ttl": 0})
    page = t("GET", "/v2/queues?limit=1&detailed=true&with_count=true", 200)
    t("GET", page["links"][0]["href"], 200)
    t("GET", "/v2/queues?limit=0", 400)
    t("GET", "/v2/queues/missing", 200)
    t("GET", Q, 200)
    add = {"op": "add", "path": "/metadata/a", "value": 1}
    t("PATCH", Q, 415, json=[add])
    t("PATCH", Q, 200, **patch(add))
    t("PATCH", Q, 409, **patch({"op": "remove", "path": "/metadata/zz"}))
    t("PATCH", Q, 400, **patch({"op": "move", "path": "/metadata/a"}))
    t("PATCH", "/v2/queues/missing", 404, **patch(add))
    t("POST", f"{Q}/share", 200, json={"paths": ["messages", "claims"], "methods": ["GET"]})
    t("POST", f"{Q}/share", 400, json={"project_id": "x"})


def tour_messages(t: Tour) -> list[str]:
    posted = t("POST", f"{Q}/messages", 201, json={"messages": [{"body": n} for n in range(4)]})
    ids = [href.rsplit("/", 1)[1] for href in posted["resources"]]
    t("POST", f"{Q}/messages", 400, json={"messages": []})
    t("GET", f"{Q}/stats", 200)
    t("GET", "/v2/queues/missing/stats", 200)
    page = t("GET", f"{Q}/messages?echo=true&limit=2", 200)
    t("GET", page["links"][0]["href"], 200)
    t("GET", f"{Q}/messages", 200)
    t("GET", f"{Q}/messages?ids={ids[0]},{ids[1]}", 200)
    t("GET", f"{Q}/messages?ids=999999", 404)
    t("GET", f"{Q}/messages?limit=100", 400)
    t("GET", f"{Q}/messages/{ids[0]}", 200)
    t("GET", f"{Q}/messages/999999", 404)
    t("GET", f"{Q}/messages?include_claimed=true&include_delayed=true", 200)
    return ids


def tour_claims(t: Tour, ids: list[str]) -> None:
    claimed = t("POST", f"{Q}/claims?limit=2", 201, json={"ttl": 60, "grace": 60})
    href = claimed["messages"][0]["href"]
    claim_id = href.rsplit("=", 1)[1]
    claim = f"{Q}/claims/{claim_id}"
    t("GET", claim, 200)
    t("GET", f"{Q}/claims/{'c' * 32}", 404)
    t("PATCH", claim, 204, json={"ttl": 120})
    t("PATCH", claim, 400, json={"ttl": 1})
    t("PATCH", f"{Q}/claims/{'c' * 32}", 404, json={"ttl": 120})
    t("POST", f"{Q}/claims", 400, json={"ttl": "x"})
    t("GET", href, 200)
    t("DELETE", href.split("?")[0], 403)
    t("DELETE", href.split("?")[0] + "?claim_id=invalid", 400)
    t("DELETE", href, 204)
    t("DELETE", claim, 204)
    t("DELETE", f"{Q}/messages?pop=1", 200)
    t("DELETE", f"{Q}/messages?pop=0", 400)
    t("DELETE", f"{Q}/messages?ids={','.join(ids)}", 204)
    t("DELETE", f"{Q}/messages", 400)
    t("DELETE", f"{Q}/messages/{ids[0]}", 204)
    t("POST", f"{Q}/claims", 204)


def tour_subscriptions(t: Tour) -> None:
    subs = f"{Q}/subscriptions"
    first = t("POST", subs, 201, json={"subscriber": "http://a.example/", "options": {"k": 1}})
    second = t("POST", subs, 201, json={"subscriber": "mailto:ops@example.com", "ttl": 600})
    t("POST", subs, 400, json={"subscriber": "ftp://x"})
    one = f"{subs}/{first['subscription_id']}"
    page = t("GET", f"{subs}?limit=1", 200)
    t("GET", page["links"][0]["href"], 200)
    t("GET", one, 200)
    t("GET", f"{subs}/{'d' * 32}", 404)
    t("PATCH", one, 204, json={"ttl": 300})
    t("PATCH", one, 400, json={"ttl": "x"})
    t("PATCH", f"{subs}/{'d' * 32}", 404, json={"ttl": 300})
    t("PATCH", f"{subs}/{second['subscription_id']}", 409, json={"subscriber": "http://a.example/"})
    t("PUT", f"{one}/confirm", 204, json={"confirmed": True})
    t("PUT", f"{one}/confirm", 400, json={"confirmed": "yes"})
    t("PUT", f"{subs}/{'d' * 32}/confirm", 404, json={"confirmed": True})
    t("POST", subs, 409, json={"subscriber": "http://a.example/"})
    t("DELETE", one, 204)
    t("POST", f"{Q}/purge", 204, json={"resource_types": ["messages", "subscriptions"]})
    t("POST", f"{Q}/purge", 400, json={"resource_types": ["queues"]})
    t("DELETE", Q, 204)


T = "/v2/topics/news"


def tour_topics(t: Tour) -> None:
    add = {"op": "add", "path": "/metadata/a", "value": 1}
    t("GET", "/v2/topics", 200)
    t("PUT", T, 201, json={"description": "news"})
    t("PUT", T, 204)
    t("PUT", "/v2/topics/bad", 400, json={"_default_message_ttl": 0})
    page = t("GET", "/v2/topics?limit=1&detailed=true", 200)
    t("GET", page["links"][0]["href"], 200)
    t("GET", T, 200)
    t("PATCH", T, 415, json=[add])
    t("PATCH", T, 200, **patch(add))
    t("PATCH", T, 409, **patch({"op": "remove", "path": "/metadata/zz"}))
    t("PATCH", "/v2/topics/missing", 404, **patch(add))
    t("GET", f"{T}/stats", 200)
    posted = t("POST", f"{T}/messages", 201, json={"messages": [{"body": n} for n in range(3)]})
    ids = [href.rsplit("/", 1)[1] for href in posted["resources"]]
    t("POST", f"{T}/messages", 400, json={"messages": []})
    t("GET", f"{T}/stats", 200)
    t("GET", "/v2/topics/missing/stats", 200)
    page = t("GET", f"{T}/messages?echo=true&limit=2", 200)
    t("GET", page["links"][0]["href"], 200)
    t("GET", f"{T}/messages?ids={ids[0]},{ids[1]}", 200)
    t("GET", f"{T}/messages?ids=999999", 404)
    t("GET", f"{T}/messages/{ids[0]}", 200)
    t("GET", f"{T}/messages/999999", 404)
    t("DELETE", f"{T}/messages?pop=1", 400)
    t("DELETE", f"{T}/messages?ids={ids[1]}", 204)
    t("DELETE", f"{T}/messages/{ids[0]}", 204)
    subs = f"{T}/subscriptions"
    first = t("POST", subs, 201, json={"subscriber": "http://a.example/"})
    second = t("POST", subs, 201, json={"subscriber": "mailto:ops@example.com"})
    one = f"{subs}/{first['subscription_id']}"
    t("GET", subs, 200)
    t("GET", one, 200)
    t("GET", f"{subs}/{'d' * 32}", 404)
    t("PATCH", one, 204, json={"ttl": 300})
    t("PATCH", f"{subs}/{second['subscription_id']}", 409, json={"subscriber": "http://a.example/"})
    t("PUT", f"{one}/confirm", 204, json={"confirmed": True})
    t("POST", subs, 409, json={"subscriber": "http://a.example/"})
    t("DELETE", one, 204)
    t("POST", f"{T}/purge", 204, json={"resource_types": ["messages"]})
    t("DELETE", T, 204)


def test_public_tour(api: Api) -> None:
    tour = Tour(api, Contract(DOCS["public"]))
    tour_discovery(tour)
    tour_queues(tour)
    tour_claims(tour, tour_messages(tour))
    tour_subscriptions(tour)
    tour_topics(tour)
    assert tour.missed(set(DOCS["public"]["paths"])) == set()


def test_checksums_on_an_encrypted_queue_are_documented(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    """Message documents with ``checksum`` (enable_checksum) match their schemas."""
    configured = replace(settings, enable_checksum=True, encryption_keys=(f"k:{'A' * 43}=",))
    options = storage_options(configured)
    bodies = SqlDataDriver(driver.engine, clock=clock, options=options)
    api = Api(create_app(configured, driver=bodies, clock=clock))
    tour = Tour(api, Contract(DOCS["public"]))
    tour("PUT", Q, 201, json={"_enable_encrypt_messages": True})
    listed = tour_messages(tour)
    page = tour("GET", f"{Q}/messages?echo=true", 200)["messages"]
    assert page and all(m["checksum"].startswith("MD5:") for m in page)
    tour_claims(tour, listed)
    sealed = "/v2/topics/sealed"
    tour("PUT", sealed, 201, json={"_enable_encrypt_messages": True})
    tour("POST", f"{sealed}/messages", 201, json={"messages": [{"body": {"n": 1}}]})
    [read] = tour("GET", f"{sealed}/messages?echo=true", 200)["messages"]
    assert read["body"] == {"n": 1} and read["checksum"].startswith("MD5:")


def test_admin_tour(tmp_path: Path, clock: ManualClock) -> None:
    site = build_site(tmp_path, clock)
    t = Tour(site.admin, Contract(DOCS["admin"]))
    try:
        tour_discovery(t)
        t("GET", "/v2/pools", 200)
        t("PUT", "/v2/pools/p1", 201, json={"uri": site.sqlite_url("p1"), "weight": 1})
        t("PUT", "/v2/pools/p2", 409, json={"uri": site.sqlite_url("p1"), "weight": 1})
        t("PUT", "/v2/pools/p2", 400, json={"uri": site.sqlite_url("p2")})
        t("PUT", "/v2/pools/p2", 201, json={"uri": site.sqlite_url("p2"), "weight": 0})
        page = t("GET", "/v2/pools?limit=1&detailed=true", 200)
        t("GET", page["links"][0]["href"], 200)
        t("GET", "/v2/pools/p1?detailed=true", 200)
        t("GET", "/v2/pools/none", 404)
        t("PATCH", "/v2/pools/p2", 200, json={"weight": 2, "options": {}})
        t("PATCH", "/v2/pools/p2", 409, json={"uri": site.sqlite_url("p1")})
        t("PATCH", "/v2/pools/p2", 400, json={})
        t("PATCH", "/v2/pools/none", 404, json={"weight": 1})
        t("GET", "/v2/flavors", 200)
        t("PUT", "/v2/flavors/f1", 201, json={"pool_list": ["p2"]})
        t("PUT", "/v2/flavors/f2", 400, json={"pool_list": ["none"]})
        t("GET", "/v2/flavors?detailed=true", 200)
        t("GET", "/v2/flavors/f1", 200)
        t("GET", "/v2/flavors/none", 404)
        t("PATCH", "/v2/flavors/f1", 200, json={"pool_list": ["p2"]})
        t("PATCH", "/v2/flavors/f1", 400, json={"pool_list": []})
        t("PATCH", "/v2/flavors/none", 404, json={"pool_list": ["p2"]})
        site.admin.post_messages("placed", 1)
        posted = site.admin.post("/v2/topics/placed/messages", json={"messages": [{"body": 1}]})
        assert posted.status_code == 201
        t("GET", "/v2/catalogue", 200)
        t("GET", "/v2/catalogue?project=project-a&limit=1", 200)
        t("GET", "/v2/catalogue/placed", 200)
        t("GET", "/v2/catalogue/nowhere", 404)
        site.admin.post_messages("movable", 2)
        t("PUT", "/v2/pools/p3", 201, json={"uri": site.sqlite_url("p3"), "weight": 0})
        t("PUT", "/v2/catalogue/movable", 200, json={"pool": "p3"})
        t("PUT", "/v2/catalogue/movable", 409, json={"pool": "p3"})
        t("PUT", "/v2/catalogue/movable", 404, json={"pool": "none"})
        t("PUT", "/v2/catalogue/movable", 400, json={})
        t("GET", "/v2/health", 200)
        t("GET", "/metrics", 200)
        t("DELETE", "/v2/pools/p1", 403)
        t("DELETE", "/v2/flavors/f1", 204)
        t("DELETE", "/v2/pools/p2", 204)
        admin_only = set(DOCS["admin"]["paths"]) - set(DOCS["public"]["paths"])
        assert t.missed(admin_only) == set()
    finally:
        for storage in site.storages:
            storage.close()


def test_bare_health_is_documented(api: Api, settings: Settings, driver: SqlDataDriver) -> None:
    bare = Api(create_app(replace(settings, admin_mode=True), driver=driver))
    assert send(Contract(DOCS["admin"]), bare, "GET", "/v2/health").json == {
        "storage_reachable": True
    }
