"""``GET /metrics`` of one app: what storage counts, the scrape-time gauges, labels, placement.

Counters are process-wide, so each test compares them before and after its
own traffic. Gauges are read from the exposition, parsed with
``prometheus_client.parser``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sqlqueue.bootstrap import create_app
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import Pool
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.admin.conftest import DOWN, build_site
from tests.transport.conftest import ALL_BACKENDS, PROJECT, Api

CLAIM = {"ttl": 60, "grace": 60}
MESSAGES = "/v2/queues/{queue_name}/messages"


def counter(name: str, **labels: str) -> float:
    """A counter's value in this process (0 before its first increment)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def gauges(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape of ``api`` by (name, sorted labels)."""
    answer = api.client.simulate_get("/metrics")
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def depth(samples: dict[Any, float], queue: str, state: str) -> float | None:
    """``sqlqueue_queue_messages`` of one queue of PROJECT, None when not shown."""
    key = ("sqlqueue_queue_messages", (("project", PROJECT), ("queue", queue), ("state", state)))
    return samples.get(key)


def admin_api(settings: Settings, driver: SqlDataDriver, clock: ManualClock, **more: Any) -> Api:
    """An admin app over the bare driver (it serves /metrics by default)."""
    return Api(create_app(replace(settings, admin_mode=True, **more), driver=driver, clock=clock))


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_storage_counts_posts_claims_deletes_dead_letters_and_expiry(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    api = admin_api(settings, driver, clock)
    names = [
        "sqlqueue_messages_posted_total",
        "sqlqueue_messages_claimed_total",
        "sqlqueue_messages_deleted_total",
        "sqlqueue_messages_dead_lettered_total",
        "sqlqueue_messages_expired_total",
        "sqlqueue_claims_created_total",
        "sqlqueue_claims_expired_total",
    ]
    before = {name: counter(name) for name in names}
    assert api.put("/v2/queues/dl", json={"_max_claim_count": 1, "_dead_letter_queue": "dlq"})
    api.post_messages("dl", *range(3))
    api.post_messages("short", *range(4), ttl=60)
    ids = api.post_messages("kept", *range(5))
    assert api.post("/v2/queues/dl/claims", json=CLAIM).status_code == 201  # 3 claimed
    assert api.delete("/v2/queues/kept/messages", params={"pop": "2"}).status_code == 200
    gone = api.delete("/v2/queues/kept/messages", query_string=f"ids={','.join(ids[3:])}")
    assert gone.status_code == 204
    clock.advance(61)  # the claim and the short messages expire
    assert api.post("/v2/queues/dl/claims", json=CLAIM).status_code == 204  # all dead-lettered
    driver.gc()

    after = {name: counter(name) - before[name] for name in names}
    assert after == {
        "sqlqueue_messages_posted_total": 12,
        "sqlqueue_messages_claimed_total": 3,
        "sqlqueue_messages_deleted_total": 4,
        "sqlqueue_messages_dead_lettered_total": 3,
        "sqlqueue_messages_expired_total": 4,
        "sqlqueue_claims_created_total": 1,
        "sqlqueue_claims_expired_total": 1,
    }


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_gauges_show_the_deepest_queues_as_their_stats_do(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    api = admin_api(settings, driver, clock, metrics_queues=2)
    api.post_messages("small", 1)
    api.post_messages("big", *range(6))
    api.post_messages("middle", *range(3))
    assert api.post("/v2/queues/big/claims?limit=2", json=CLAIM).status_code == 201
    clock.advance(30)
    api.post_messages("middle", 4)

    samples = gauges(api)
    for queue in ("big", "middle"):
        stats = api.get(f"/v2/queues/{queue}/stats").json["messages"]
        assert depth(samples, queue, "free") == stats["free"]
        assert depth(samples, queue, "claimed") == stats["claimed"]
        age = (
            "sqlqueue_queue_oldest_message_age_seconds",
            (("project", PROJECT), ("queue", queue)),
        )
        assert samples[age] == stats["oldest"]["age"] == 30
    assert (depth(samples, "big", "free"), depth(samples, "big", "claimed")) == (4, 2)
    assert depth(samples, "small", "free") is None  # only the 2 deepest
    assert samples[("sqlqueue_scrape_truncated", ())] == 0


@pytest.mark.sqlite
def test_topics_have_no_depth_gauges(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    api = admin_api(settings, driver, clock)
    assert api.put("/v2/topics/news", json={}).status_code == 201
    post = api.post("/v2/topics/news/messages", json={"messages": [{"body": 1}, {"body": 2}]})
    assert post.status_code == 201
    api.post_messages("news", 1)  # queue news, beside topic news
    queues = {
        dict(labels)["queue"] for name, labels in gauges(api) if name == "sqlqueue_queue_messages"
    }
    assert queues == {"news"}


def test_the_scrape_timeout_leaves_queues_out_and_says_so(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    api = admin_api(settings, driver, clock, metrics_scrape_timeout=1e-9)
    for name in ("a", "b", "c"):
        api.post_messages(name, 1)
    samples = gauges(api)
    assert samples[("sqlqueue_scrape_truncated", ())] == 1
    assert sum(depth(samples, name, "free") is not None for name in ("a", "b", "c")) < 3


def test_route_labels_are_templates_whatever_the_path(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    api = admin_api(settings, driver, clock)
    before = counter("sqlqueue_http_requests_total", method="POST", route=MESSAGES, status="201")
    for n in range(100):
        api.post_messages(f"queue-{n}", n)
    refused = api.post("/v2/queues/q1/messages", headers={"Client-ID": None}, json={})
    assert refused.status_code == 400  # refused before routing, labelled all the same
    assert api.get("/no/such/path").status_code == 404
    assert api.request("TRACE", "/v2/queues/q1").status_code == 405

    assert counter("sqlqueue_http_requests_total", method="POST", route=MESSAGES, status="201") == (
        before + 100
    )
    assert counter("sqlqueue_http_requests_total", method="POST", route=MESSAGES, status="400")
    assert counter("sqlqueue_http_requests_total", method="GET", route="unmatched", status="404")
    text = api.client.simulate_get("/metrics").text
    routes = {
        sample.labels["route"]
        for family in text_string_to_metric_families(text)
        if family.name.startswith("sqlqueue_http_")
        for sample in family.samples
    }
    assert all(route.startswith("/") or route == "unmatched" for route in routes)
    assert not any("queue-" in route or "q1" in route for route in routes)
    methods = {
        sample.labels["method"]
        for family in text_string_to_metric_families(text)
        if family.name == "sqlqueue_http_requests"
        for sample in family.samples
    }
    assert "TRACE" not in methods and "other" in methods


def test_metrics_are_served_where_configured(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    def app(**more: Any) -> Api:
        return Api(create_app(replace(settings, **more), driver=driver, clock=clock))

    assert app().client.simulate_get("/metrics").status_code == 404  # public, by default
    assert app(admin_mode=True).client.simulate_get("/metrics").status_code == 200
    assert app(metrics_endpoint="public").client.simulate_get("/metrics").status_code == 200
    hidden = app(admin_mode=True, metrics_endpoint="off")
    assert hidden.client.simulate_get("/metrics").status_code == 404

    served = app(admin_mode=True).client
    plain = served.simulate_get("/metrics", headers={"Accept": "text/plain"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    open_metrics = served.simulate_get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")
    xml = served.simulate_get("/metrics", headers={"Accept": "application/xml"})
    assert xml.status_code == 406 and xml.json["title"]


def test_pool_reachability_and_catalogue_size(tmp_path: Path, clock: ManualClock) -> None:
    site = build_site(tmp_path, clock)
    try:
        site.put_pool("p1", site.sqlite_url("p1"))
        site.storages[0].control.pools.create(Pool("gone", DOWN, 0))  # registered, then lost
        site.settle()
        for queue in ("a", "b"):
            site.public.post_messages(queue, 1)
        samples = gauges(site.admin)
        assert samples[("sqlqueue_pool_up", (("pool", "p1"),))] == 1
        assert samples[("sqlqueue_pool_up", (("pool", "gone"),))] == 0
        assert samples[("sqlqueue_catalogue_queues", ())] == 2
        assert samples[("sqlqueue_catalogue_up", ())] == 1
        assert depth(samples, "a", "free") == 1  # queues of the pools are ranked too
    finally:
        for storage in site.storages:
            storage.close()


def test_a_database_down_is_counted_and_the_scrape_still_answers() -> None:
    driver = SqlDataDriver.from_url(DOWN)
    try:
        settings = Settings(database_url=DOWN, signed_url_secret="s", admin_mode=True)
        api = Api(create_app(settings, driver=driver))
        before = counter("sqlqueue_database_errors_total")
        assert api.get("/v2/queues/jobs/stats").status_code == 503
        assert counter("sqlqueue_database_errors_total") > before
        samples = gauges(api)
        assert samples[("sqlqueue_catalogue_up", ())] == 0
        assert not any(name == "sqlqueue_queue_messages" for name, _ in samples)
    finally:
        driver.close()


def test_long_poll_waiters_are_counted_while_they_wait(
    settings: Settings, driver: SqlDataDriver, clock: ManualClock
) -> None:
    api = admin_api(settings, driver, clock)
    api.put("/v2/queues/lp")
    waiters = ("sqlqueue_longpoll_waiters", ())
    answers: list[int] = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            api.post("/v2/queues/lp/claims", params={"wait": "10"}, json=CLAIM).status_code
        )
    )
    waiting.start()
    deadline = time.monotonic() + 10
    while gauges(api)[waiters] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gauges(api)[waiters] == 1
    api.post_messages("lp", "wake up")
    waiting.join(10)
    assert answers == [201]
    assert gauges(api)[waiters] == 0
