"""Input faults of issue 8, each by its whole kind, over every backend.

Each test sends what a user (or a public bug report) sent and asserts the
answer a client should see: the right status, Zaqar's error body, and the
stored state left as it should be.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import create_app
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.limits import Limits
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.transport.wsgi import body
from sqlqueue.transport.wsgi.errors import InvalidBody
from tests.threads import run_threads
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
    result = api.request(method, path, body=json.dumps(document))
    assert result.status_code == 400, result.text
    assert set(result.json) == {"title", "description"}


# 3. Chunked request bodies --------------------------------------------------

TERMINATED = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True}
"""What a WSGI server that de-chunks a body hands the app: no length, an
input that ends where the body ends."""


def chunked(
    api: Api, method: str, path: str, document: object, headers: dict[str, str] | None = None
) -> Any:
    """Send ``document`` as a body of unknown length, as a server passes a chunked one."""
    raw = json.dumps(document).encode() if not isinstance(document, bytes) else document
    extra = {"Transfer-Encoding": "chunked", **(headers or {})}
    return api.request(method, path, body=raw, headers=extra, extras=TERMINATED)


@every_backend
def test_chunked_purge_purges_only_what_it_names(api: Api) -> None:
    api.post_messages("jobs", 1)
    api.post(f"{Q}/subscriptions", json={"subscriber": "http://a.example"})
    result = chunked(api, "POST", f"{Q}/purge", {"resource_types": ["subscriptions"]})
    assert result.status_code == 204, result.text
    assert api.get(f"{Q}/subscriptions").json["subscriptions"] == []
    assert len(api.get(f"{Q}/messages", query_string="echo=true").json["messages"]) == 1


@every_backend
def test_chunked_claim_and_renewal_keep_their_ttl(api: Api) -> None:
    api.post_messages("jobs", 1)
    result = chunked(api, "POST", f"{Q}/claims", {"ttl": 61, "grace": 60})
    assert result.status_code == 201, result.text
    href = result.headers["Location"]
    assert api.get(href).json["ttl"] == 61
    assert chunked(api, "PATCH", href, {"ttl": 62}).status_code == 204
    assert api.get(href).json["ttl"] == 62


@every_backend
def test_chunked_queue_put_and_patch_keep_their_metadata(api: Api) -> None:
    assert chunked(api, "PUT", Q, {"colour": "blue"}).status_code == 201
    assert api.get(Q).json["colour"] == "blue"
    ops = [{"op": "add", "path": "/metadata/size", "value": 3}]
    result = chunked(api, "PATCH", Q, ops, PATCH_TYPE)
    assert result.status_code == 200, result.text
    assert (api.get(Q).json["colour"], api.get(Q).json["size"]) == ("blue", 3)


@every_backend
def test_chunked_share_signs_what_was_asked(api: Api, clock: ManualClock) -> None:
    expires = datetime.fromtimestamp(clock() + 300, UTC).replace(tzinfo=None, microsecond=0)
    asked = {"paths": ["claims"], "methods": ["POST"], "expires": expires.isoformat()}
    result = chunked(api, "POST", f"{Q}/share", asked)
    assert result.status_code == 200, result.text
    assert result.json["paths"] == [f"{Q}/claims"]
    assert result.json["methods"] == ["POST"]
    assert result.json["expires"] == expires.isoformat()


@every_backend
def test_chunked_posts_and_subscriptions_are_read(api: Api) -> None:
    result = chunked(api, "POST", f"{Q}/messages", {"messages": [{"body": {"n": 7}}]})
    assert result.status_code == 201, result.text
    listed = api.get(f"{Q}/messages", query_string="echo=true").json["messages"]
    assert [m["body"] for m in listed] == [{"n": 7}]
    sub = {"subscriber": "http://b.example", "ttl": 120, "options": {"k": 1}}
    result = chunked(api, "POST", f"{Q}/subscriptions", sub)
    assert result.status_code == 201, result.text
    sub_id = result.json["subscription_id"]
    found = api.get(f"{Q}/subscriptions/{sub_id}").json
    assert (found["ttl"], found["options"]) == (120, {"k": 1})
    assert chunked(api, "PATCH", f"{Q}/subscriptions/{sub_id}", {"ttl": 200}).status_code == 204
    assert api.get(f"{Q}/subscriptions/{sub_id}").json["ttl"] == 200


@every_backend
def test_chunked_bodies_have_the_same_size_limits(api: Api, limits: Limits) -> None:
    big = {"messages": [{"body": "x" * limits.max_messages_post_size}]}
    result = chunked(api, "POST", f"{Q}/messages", big)
    assert result.status_code == 400
    assert "Max size" in result.json["description"]
    assert chunked(api, "PUT", Q, {"k": "x" * limits.max_queue_metadata}).status_code == 400
    assert api.get(f"{Q}/messages", query_string="echo=true").json["messages"] == []
    assert api.get(Q).json.get("k") is None


def test_chunked_queue_cap_counts_the_bytes_read(api: Api) -> None:
    assert api.put(Q, json={"_max_messages_post_size": 100}).status_code == 201
    result = chunked(api, "POST", f"{Q}/messages", {"messages": [{"body": "x" * 200}]})
    assert result.status_code == 400
    assert "Max size for this queue: 100" in result.json["description"]


def test_chunked_body_on_a_server_that_cannot_end_it_is_411(api: Api) -> None:
    raw = json.dumps({"resource_types": ["subscriptions"]}).encode()
    api.post_messages("jobs", 1)
    result = api.request(
        "POST",
        f"{Q}/purge",
        body=raw,
        headers={"Transfer-Encoding": "chunked"},
        extras={"CONTENT_LENGTH": ""},
    )
    assert result.status_code == 411
    assert set(result.json) == {"title", "description"}
    assert len(api.get(f"{Q}/messages", query_string="echo=true").json["messages"]) == 1


# 4. Super-linear time on crafted bodies -------------------------------------


def fastest(call: Callable[[], Any], runs: int = 5) -> float:
    """The least CPU time of ``runs`` calls (robust on a loaded machine)."""
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
        if best > 1:  # surely not a plain body's cost: no need to wait for more
            break
    return best


def cost_ratio(api: Api, method: str, path: str, crafted: bytes, plain: bytes) -> float:
    """CPU time of the crafted body over that of a plain body of the same size."""
    assert abs(len(crafted) - len(plain)) <= 16, (len(crafted), len(plain))

    def send(raw: bytes) -> Callable[[], Any]:
        def call() -> None:
            result = api.request(method, path, body=raw)
            assert result.status_code == 400, result.text

        return call

    floor = 0.002  # a few ms of noise must not make a ratio
    return (fastest(send(crafted)) + floor) / (fastest(send(plain)) + floor)


def test_unterminated_string_of_escaped_quotes_costs_what_a_plain_body_costs(api: Api) -> None:
    """65 '[' then '"' then 12,000 '\\"' (24 KB): was 2.7 s before the 400."""
    crafted = b"[" * 65 + b'"' + b'\\"' * 12_000
    plain = b"[" * 65 + b'"' + b"x" * 24_000
    assert cost_ratio(api, "POST", f"{Q}/messages", crafted, plain) < 5


def test_distinct_objects_in_a_unique_list_cost_what_strings_cost(api: Api) -> None:
    """uniqueItems over objects was compared pairwise: 64 KB took minutes."""
    count = 4_000
    crafted = json.dumps({"resource_types": [{"a": i} for i in range(count)]}).encode()
    pad = len(crafted) - len(json.dumps({"resource_types": ["" for _ in range(count)]}))
    names = [f"{i:0{pad // count}d}" for i in range(count)]
    plain = json.dumps({"resource_types": names}).encode()
    plain = plain[:-2] + b" " * (len(crafted) - len(plain)) + plain[-2:]
    assert cost_ratio(api, "POST", f"{Q}/purge", crafted, plain) < 5


JSONISH = st.text(alphabet='[]{}",:\\ 1ax', max_size=300)


def _depth(document: Any) -> int:
    if isinstance(document, list):
        return 1 + max((_depth(item) for item in document), default=0)
    if isinstance(document, dict):
        return 1 + max((_depth(item) for item in document.values()), default=0)
    return 0


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(
    st.one_of(
        JSONISH,
        st.builds(lambda n, tail: "[" * n + tail + "]" * n, st.integers(60, 70), JSONISH),
    )
)
def test_the_pre_parser_checks_agree_with_the_json_parser(text: str) -> None:
    """Whatever the bytes, the strict parser accepts exactly the JSON documents
    (objects or arrays) at most MAX_DEPTH deep, and refuses the rest with 400."""
    try:
        expected: Any = json.loads(text)
    except ValueError:
        expected = None
    ok = isinstance(expected, dict | list) and _depth(expected) <= body.MAX_DEPTH
    try:
        found = body.parse(text.encode())
    except InvalidBody:
        assert not ok
    else:
        assert ok and found == expected


# 5. Stored documents longer than their column -------------------------------

INFLATING = [1e9] * 6_000
"""24 KB sent; stored as 1000000000.0 each: about 78 KB."""


def raw_json(document: object) -> str:
    """The document as a client would send it (``1e9`` kept short)."""
    return json.dumps(document).replace("1000000000.0", "1e9")


@every_backend
def test_subscription_options_too_large_once_stored_are_refused(api: Api) -> None:
    sent = raw_json({"subscriber": "http://a.example", "options": {"n": INFLATING}})
    assert len(sent) < 65_535
    result = api.post(f"{Q}/subscriptions", body=sent)
    assert result.status_code == 400, result.text
    assert "Max size: 65535 bytes" in result.json["description"]
    assert api.get(f"{Q}/subscriptions").json["subscriptions"] == []
    created = api.post(f"{Q}/subscriptions", json={"subscriber": "http://a.example"})
    sub = f"{Q}/subscriptions/{created.json['subscription_id']}"
    result = api.patch(sub, body=raw_json({"options": {"n": INFLATING}}))
    assert result.status_code == 400, result.text
    assert "Max size: 65535 bytes" in result.json["description"]
    assert api.get(sub).json["options"] == {}


@every_backend
def test_subscription_options_that_fit_once_stored_are_kept_whole(api: Api) -> None:
    options = {"n": [1e9] * 4_000}  # about 52 KB stored
    result = api.post(
        f"{Q}/subscriptions", body=raw_json({"subscriber": "http://a.example", "options": options})
    )
    assert result.status_code == 201, result.text
    found = api.get(f"{Q}/subscriptions/{result.json['subscription_id']}").json
    assert found["options"] == options


@every_backend
def test_queue_metadata_too_large_once_stored_is_refused(api: Api, limits: Limits) -> None:
    sent = raw_json({"n": [1e9] * 6_000})
    assert len(sent) < limits.max_queue_metadata
    result = api.put(Q, body=sent)
    assert result.status_code == 400, result.text
    assert f"Max size: {limits.max_queue_metadata} bytes" in result.json["description"]
    assert api.get("/v2/queues").json["queues"] == []
    assert api.put(Q, json={"keep": 1}).status_code == 201
    ops = raw_json([{"op": "add", "path": "/metadata/n", "value": [1e9] * 6_000}])
    result = api.patch(Q, body=ops, headers=PATCH_TYPE)
    assert result.status_code == 400, result.text
    assert api.get(Q).json["keep"] == 1 and "n" not in api.get(Q).json


# 6. Dates at the edges of the calendar --------------------------------------


@every_backend
@pytest.mark.parametrize(
    "expires",
    [
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59.999999-00:01",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00+00:01",
        "10000-01-01T00:00:00",
        "9999-13-01T00:00:00",
        "2030-02-30T00:00:00",
        "0000-01-01T00:00:00",
    ],
)
def test_share_expiry_outside_the_calendar_is_a_400(api: Api, expires: str) -> None:
    result = api.post(f"{Q}/share", json={"expires": expires})
    assert result.status_code == 400, result.text
    assert "expires" in result.json["description"]


@every_backend
@pytest.mark.parametrize(
    ("expires", "signed"),
    [
        ("9999-12-31T23:59:59", "9999-12-31T23:59:59"),
        ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59"),
        ("9999-12-31T23:59:59+14:00", "9999-12-31T09:59:59"),
    ],
)
def test_share_expiry_at_the_calendar_end_is_signed_and_usable(
    api: Api, expires: str, signed: str
) -> None:
    result = api.post(f"{Q}/share", json={"expires": expires, "methods": ["GET"]})
    assert result.status_code == 200, result.text
    doc = result.json
    assert doc["expires"] == signed
    headers = {
        "URL-Signature": doc["signature"],
        "URL-Expires": doc["expires"],
        "URL-Methods": "GET",
        "URL-Paths": ",".join(doc["paths"]),
    }
    assert api.get(f"{Q}/messages", headers=headers).status_code in (200, 204)


@every_backend
@pytest.mark.parametrize(
    "expires", ["0001-01-01T00:00:00", "10000-01-01T00:00:00", "9999-12-31T23:59:60"]
)
def test_signed_request_with_an_expiry_outside_the_calendar_is_refused(
    api: Api, expires: str
) -> None:
    headers = {
        "URL-Signature": "0" * 64,
        "URL-Expires": expires,
        "URL-Methods": "GET",
        "URL-Paths": f"{Q}/messages",
    }
    result = api.get(f"{Q}/messages", headers=headers)
    assert result.status_code == 404, result.text
    assert set(result.json) == {"title", "description"}


INT32_MAX = 2**31 - 1


@every_backend
def test_durations_at_their_edges_are_kept_and_beyond_them_refused(api: Api) -> None:
    sub = {"subscriber": "http://a.example", "ttl": INT32_MAX}
    result = api.post(f"{Q}/subscriptions", json=sub)
    assert result.status_code == 201, result.text
    found = api.get(f"{Q}/subscriptions/{result.json['subscription_id']}").json
    assert found["ttl"] == INT32_MAX
    beyond = [
        ("POST", f"{Q}/subscriptions", {"subscriber": "http://b.example", "ttl": INT32_MAX + 1}),
        ("POST", f"{Q}/messages", {"messages": [{"body": 1, "ttl": 1209601}]}),
        ("POST", f"{Q}/messages", {"messages": [{"body": 1, "delay": 901}]}),
        ("POST", f"{Q}/claims", {"ttl": 43201}),
        ("POST", f"{Q}/claims", {"grace": 43201}),
        ("PUT", "/v2/queues/other", {"_default_message_ttl": 1209601}),
    ]
    for method, path, document in beyond:
        result = api.request(method, path, json=document)
        assert result.status_code == 400, (path, document, result.text)


# 7. A legal post whose answer no client can read ----------------------------


@every_backend
def test_a_post_over_the_message_count_limit_is_a_400_and_stores_nothing(
    api: Api, limits: Limits
) -> None:
    count = 20_000
    document = {"messages": [{"body": 0}] * count}
    assert len(json.dumps(document)) < limits.max_messages_post_size
    result = api.post(f"{Q}/messages", json=document)
    assert result.status_code == 400, result.text
    assert f"No more than {limits.max_messages_per_post} messages" in result.json["description"]
    assert api.get(f"{Q}/stats").json["messages"]["total"] == 0


@every_backend
def test_the_largest_allowed_post_has_headers_every_client_reads(api: Api, limits: Limits) -> None:
    count = limits.max_messages_per_post
    result = api.post(f"{Q}/messages", json={"messages": [{"body": 0}] * count})
    assert result.status_code == 201, result.text
    assert len(result.json["resources"]) == count
    header_bytes = sum(len(k) + len(v) + 4 for k, v in result.headers.items())
    assert header_bytes < 4096
    assert result.headers["Location"] == f"{Q}/messages"
    assert api.get(f"{Q}/stats").json["messages"]["total"] == count


def test_a_small_post_lists_its_ids_in_the_location(api: Api) -> None:
    ids = api.post_messages("jobs", *range(50))
    result = api.post(f"{Q}/messages", json={"messages": [{"body": 1}]})
    new = result.json["resources"][0].rsplit("/", 1)[1]
    assert result.headers["Location"] == f"{Q}/messages?ids={new}"
    result = api.post(f"{Q}/messages", json={"messages": [{"body": n} for n in range(50)]})
    hrefs = result.json["resources"]
    assert result.headers["Location"] == f"{Q}/messages?ids=" + ",".join(
        h.rsplit("/", 1)[1] for h in hrefs
    )
    assert len(ids) == 50


@pytest.mark.parametrize("limits", [Limits(max_messages_per_post=3)])
def test_the_message_count_limit_is_configurable(api: Api, limits: Limits) -> None:
    assert api.post(f"{Q}/messages", json={"messages": [{"body": 0}] * 3}).status_code == 201
    result = api.post(f"{Q}/messages", json={"messages": [{"body": 0}] * 4})
    assert result.status_code == 400
    assert "No more than 3 messages" in result.json["description"]
    spec = api.get("/v2/openapi.json").json
    schema = spec["components"]["schemas"]["NewMessages"]["properties"]["messages"]
    assert schema["maxItems"] == 3


# 8. A claim answers 204 while claimable messages remain -----------------------


@every_backend
def test_claim_after_a_dead_letter_move_answers_the_free_messages(api: Api) -> None:
    meta = {"_max_claim_count": 1, "_dead_letter_queue": "dead"}
    assert api.put(Q, json=meta).status_code == 201
    api.post_messages("jobs", "A", "B", "C")
    first = api.post(f"{Q}/claims", query_string="limit=1", json={"ttl": 60})
    assert [m["body"] for m in first.json["messages"]] == ["A"]
    assert api.delete(first.headers["Location"]).status_code == 204
    result = api.post(f"{Q}/claims", query_string="limit=1", json={"ttl": 60})
    assert result.status_code == 201, result.text
    assert [m["body"] for m in result.json["messages"]] == ["B"]
    dead = api.get("/v2/queues/dead/messages", query_string="echo=true").json["messages"]
    assert [m["body"] for m in dead] == ["A"]


# 9. Concurrent metadata changes are lost ------------------------------------


@every_backend
def test_parallel_json_patches_all_apply(settings: Settings, engine: Engine) -> None:
    """Twelve parallel PATCHes, each adding its own key: all twelve keys remain."""
    app = create_app(settings, driver=SqlDataDriver(engine))
    writers = [Api(app) for _ in range(12)]
    assert writers[0].put(Q, json={"base": 0}).status_code == 201
    statuses: list[int] = []

    def patcher(n: int) -> Callable[[], None]:
        def run() -> None:
            ops = [{"op": "add", "path": f"/metadata/k{n}", "value": n}]
            statuses.append(
                writers[n].patch(Q, body=json.dumps(ops), headers=PATCH_TYPE).status_code
            )

        return run

    run_threads([patcher(n) for n in range(12)], timeout=120)
    assert statuses == [200] * 12
    stored = writers[0].get(Q).json
    assert {k: v for k, v in stored.items() if k.startswith("k")} == {f"k{n}": n for n in range(12)}
    assert stored["base"] == 0


@every_backend
def test_parallel_patches_of_one_key_leave_one_of_the_values(
    settings: Settings, engine: Engine
) -> None:
    app = create_app(settings, driver=SqlDataDriver(engine))
    writers = [Api(app) for _ in range(8)]
    assert writers[0].put(Q, json={"n": -1}).status_code == 201

    def patcher(n: int) -> Callable[[], None]:
        def run() -> None:
            ops = [{"op": "replace", "path": "/metadata/n", "value": n}]
            assert writers[n].patch(Q, body=json.dumps(ops), headers=PATCH_TYPE).status_code == 200

        return run

    run_threads([patcher(n) for n in range(8)], timeout=120)
    assert writers[0].get(Q).json["n"] in range(8)


@every_backend
def test_a_refused_patch_writes_nothing(api: Api) -> None:
    assert api.put(Q, json={"a": 1}).status_code == 201
    ops = [
        {"op": "add", "path": "/metadata/b", "value": 2},
        {"op": "remove", "path": "/metadata/missing"},
    ]
    assert api.patch(Q, body=json.dumps(ops), headers=PATCH_TYPE).status_code == 409
    assert "b" not in api.get(Q).json
    assert (
        api.patch("/v2/queues/nowhere", body=json.dumps(ops[:1]), headers=PATCH_TYPE).status_code
        == 404
    )
