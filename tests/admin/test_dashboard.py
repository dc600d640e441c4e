"""The admin dashboard's pages as HTML, in process: numbers, pools, escaping, errors.

tests/e2e/test_dashboard.py drives the same pages in a real browser.
"""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from sqlqueue.domain.clock import ManualClock
from tests.admin.conftest import DOWN, Site, build_site
from tests.conftest import ServerUrls

pytestmark = pytest.mark.sqlite  # the catalogue; some tests add server pools

HOSTILE = "<img src=x onerror=alert(1)>"
NOTHING = "\u2013"  # an en dash: the page's "no value"


class Rows(HTMLParser):
    """Rows of one table (by id): their attributes and their cells' text by last class."""

    def __init__(self, table: str) -> None:
        super().__init__()
        self._table = table
        self._inside = False
        self._cell: str | None = None
        self.rows: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self._inside = found.get("id") == self._table
        elif self._inside and tag == "tr":
            self.rows.append({"attrs": found, "cells": {}})
        elif self._inside and tag == "td" and self.rows:
            self._cell = (found.get("class") or "").split()[-1] if found.get("class") else ""
            self.rows[-1]["cells"][self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "table":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self.rows:
            self.rows[-1]["cells"][self._cell] += data


def table(html: str, name: str) -> list[dict[str, Any]]:
    """The data rows of table ``name`` in ``html``."""
    parser = Rows(name)
    parser.feed(html)
    return [row for row in parser.rows if row["cells"]]


def cells_of(html: str, name: str, key: str, value: str) -> dict[str, str]:
    """The cells of the row of table ``name`` whose attribute ``key`` is ``value``."""
    matches = [row["cells"] for row in table(html, name) if row["attrs"].get(key) == value]
    assert len(matches) == 1, (name, key, value)
    return dict(matches[0])


def test_overview_counts_queues_and_databases(site: Site) -> None:
    site.admin.post_messages("old", 1, 2)  # the default database, before any pool
    site.put_pool("p1", site.sqlite_url("p1"), weight=3, flavor="gold")
    site.settle()
    site.admin.post_messages("new", 1, 2, 3)
    site.admin.post("/v2/queues/new/claims", json={"ttl": 60, "grace": 60}, params={"limit": 1})
    site.admin.as_project("other").put("/v2/queues/empty", json={})
    site.admin.put("/v2/flavors/gold", json={"pool_list": ["p1"]})

    page = site.admin.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    new = cells_of(html, "queues", "data-queue", "new")
    assert (new["free"], new["claimed"], new["total"], new["share"]) == ("2", "1", "3", "33%")
    old = cells_of(html, "queues", "data-queue", "old")
    assert (old["total"], old["oldest"]) == (
        "2",
        str(int(site.settings.catalogue_cache_seconds) + 1),
    )
    assert cells_of(html, "queues", "data-queue", "empty")["oldest"] == NOTHING
    projects = {row["cells"]["name"]: row["cells"]["queues"] for row in table(html, "projects")}
    assert projects == {"other": "1", "project-a": "2"}
    default = cells_of(html, "databases", "data-pool", "")
    pool = cells_of(html, "databases", "data-pool", "p1")
    assert (default["state"], default["queues"], default["messages"]) == ("up", "1", "2")
    assert (pool["state"], pool["weight"], pool["flavor"]) == ("up", "3", "gold")
    assert (pool["queues"], pool["messages"]) == ("2", "3")
    flavors = [(r["cells"]["name"], r["cells"]["pools"]) for r in table(html, "flavors")]
    assert flavors == [("gold", "p1")]


def test_a_pool_that_is_down_is_shown_down(site: Site) -> None:
    site.put_pool("p1", site.sqlite_url("p1"))
    site.storages[0].control.pools.update("p1", uri=DOWN)
    site.settle()
    page = site.admin.get("/dashboard")
    assert page.status_code == 200
    down = cells_of(page.text, "databases", "data-pool", "p1")
    assert (down["state"], down["queues"], down["messages"]) == ("down", "?", "?")
    assert 'class="database down"' in page.text


def test_posted_counts_feed_the_rates(site: Site) -> None:
    site.admin.post_messages("jobs", 1, 2, 3)
    ids = site.admin.post_messages("jobs", 4)
    site.admin.delete(f"/v2/queues/jobs/messages/{ids[0]}")
    (row,) = table(site.admin.get("/dashboard").text, "queues")
    assert (row["attrs"]["data-posted"], row["attrs"]["data-total"]) == ("4", "3")


def test_topics_are_listed_apart_from_queues(site: Site) -> None:
    site.admin.post_messages("orders", 1)
    assert site.admin.put("/v2/topics/orders", json={"kind": "fan-out"}).status_code == 201
    posted = site.admin.post("/v2/topics/orders/messages", json={"messages": [{"body": 1}] * 2})
    assert posted.status_code == 201, posted.text
    other = site.admin.as_project("only-topics")
    assert other.put("/v2/topics/news", json={}).status_code == 201

    html = site.admin.get("/dashboard").text
    queues = [(r["attrs"]["data-project"], r["attrs"]["data-queue"]) for r in table(html, "queues")]
    assert queues == [("project-a", "orders")]  # the topic of the same name is not a queue
    assert cells_of(html, "queues", "data-queue", "orders")["total"] == "1"
    topics = [(r["attrs"]["data-project"], r["attrs"]["data-topic"]) for r in table(html, "topics")]
    assert topics == [("only-topics", "news"), ("project-a", "orders")]
    orders = cells_of(html, "topics", "data-topic", "orders")
    assert (orders["total"], orders["metadata"]) == ("2", '{"kind": "fan-out"}')
    projects = {
        row["cells"]["name"]: (row["cells"]["queues"], row["cells"]["topics"])
        for row in table(html, "projects")
    }
    assert projects == {"only-topics": ("0", "1"), "project-a": ("1", "1")}
    default = cells_of(html, "databases", "data-pool", "")
    assert default["queues"] == "1"


def test_values_are_escaped_everywhere(site: Site) -> None:
    project = '"><svg onload=alert(2)>'
    evil = site.admin.as_project(project)
    assert evil.put("/v2/queues/evil", json={"description": HOSTILE}).status_code == 201
    evil.post_messages("evil", {"html": "<script>alert(3)</script>"})
    subscriber = {"subscriber": "mailto:a@example.com", "ttl": 3600, "options": {"x": HOSTILE}}
    assert evil.post("/v2/queues/evil/subscriptions", json=subscriber).status_code == 201

    for path, params in [("/dashboard", None), ("/dashboard/queues/evil", {"project": project})]:
        html = site.admin.get(path, params=params).text
        assert "<img" not in html and "<svg" not in html and "<script>alert" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert cells_of(html, "subscriptions", "class", "subscription")["subscriber"] == (
        "mailto:a@example.com"
    )
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html


def test_queue_page_shows_stats_messages_and_subscriptions(site: Site) -> None:
    site.admin.put("/v2/queues/jobs", json={"owner": "ops"})
    site.admin.post_messages("jobs", "a", "b")
    page = site.admin.get("/dashboard/queues/jobs", params={"project": "project-a"})
    assert page.status_code == 200
    stats = {key: value for row in table(page.text, "stats") for key, value in row["cells"].items()}
    assert (stats["free"], stats["total"], stats["posted"]) == ("2", "2", "2")
    bodies = [row["cells"]["body"] for row in table(page.text, "messages")]
    assert bodies == ['"a"', '"b"']
    assert '"owner": "ops"' in unescape(page.text)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/dashboard/queues/missing", {"project": "project-a"}, 404),
        ("/dashboard/queues/jobs", None, 400),
        ("/dashboard/queues/bad!name", {"project": "project-a"}, 400),
        ("/dashboard/static/secrets.txt", None, 404),
    ],
)
def test_refusals_are_zaqar_errors(site: Site, path: str, params: Any, status: int) -> None:
    site.admin.put("/v2/queues/jobs", json={})
    refused = site.admin.get(path, params=params)
    assert refused.status_code == status
    assert set(refused.json) == {"title", "description"}


def test_part_main_is_the_refreshed_fragment(site: Site) -> None:
    fragment = site.admin.get("/dashboard", params={"part": "main"}).text
    assert fragment.lstrip().startswith('<div class="snapshot"')
    assert "<html" not in fragment
    script = site.admin.get("/dashboard/static/dashboard.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "part" in script.text


def test_only_the_admin_app_serves_it_and_only_to_admins(site: Site, tmp_path: Path) -> None:
    assert site.public.get("/dashboard").status_code == 404
    locked = build_site(tmp_path / "locked", ManualClock(), noauth_admin=False)
    try:
        assert locked.admin.get("/dashboard").status_code == 403
        assert locked.admin.get("/dashboard", headers={"X-Roles": "admin"}).status_code == 200
    finally:
        for storage in locked.storages:
            storage.close()


def test_front_page_is_bounded(tmp_path: Path) -> None:
    small = build_site(tmp_path, ManualClock(), dashboard_queues=2)
    try:
        for name in ("a", "b", "c"):
            small.admin.put(f"/v2/queues/{name}", json={})
        html = small.admin.get("/dashboard").text
        assert [row["attrs"]["data-queue"] for row in table(html, "queues")] == ["a", "b"]
        assert "Showing the first 2 queues" in html
    finally:
        for storage in small.storages:
            storage.close()


def test_queues_on_a_pool_that_is_down_are_listed_without_numbers(site: Site) -> None:
    site.admin.post_messages("kept", 1, 2)  # the default database, before any pool
    site.put_pool("p1", site.sqlite_url("p1"))
    site.settle()
    site.admin.post_messages("lost", 1)  # placed on p1
    site.lose_pool("p1")
    site.settle()
    page = site.admin.get("/dashboard")
    assert page.status_code == 200
    lost = next(r for r in table(page.text, "queues") if r["attrs"]["data-queue"] == "lost")
    assert "unavailable" in lost["attrs"]["class"].split()
    assert lost["cells"]["state"] == "its database does not answer"
    assert cells_of(page.text, "queues", "data-queue", "kept")["total"] == "2"


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_pools_on_server_databases(site: Site, server_urls: ServerUrls, backend: str) -> None:
    url = server_urls.url(backend, "dashboard_pool")
    site.put_pool("server", url, weight=2)
    site.settle()
    site.admin.post_messages("jobs", 1, 2, 3)
    site.admin.as_project("b").put("/v2/queues/mail", json={"k": "<i>v</i>"})
    site.admin.post("/v2/queues/jobs/claims", json={"ttl": 60, "grace": 60}, params={"limit": 2})
    html = site.admin.get("/dashboard").text
    jobs = cells_of(html, "queues", "data-queue", "jobs")
    assert (jobs["free"], jobs["claimed"], jobs["total"], jobs["share"]) == ("1", "2", "3", "67%")
    assert "&lt;i&gt;v&lt;/i&gt;" in html
    pool = cells_of(html, "databases", "data-pool", "server")
    assert (pool["state"], pool["queues"], pool["messages"]) == ("up", "2", "3")
    for queue, project in [("jobs", "project-a"), ("mail", "b")]:
        site.admin.as_project(project).delete(f"/v2/queues/{queue}")  # the database is shared
