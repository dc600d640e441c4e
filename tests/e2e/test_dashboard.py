"""The admin dashboard in a real browser: headless Chromium (Debian's ``chromium``
and ``chromium-driver``, installed by ``.ci/run``) driven by Selenium against
``sqlqueue serve --admin`` on SQLite.

Skipped only when ``CI`` is unset and Chromium is absent. A screenshot of the
front page is saved under ``build/test-artifacts/`` (docs/dashboard.md shows one).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from sqlqueue.domain.models import Pool
from sqlqueue.storage.sql.control import SqlControlDriver
from sqlqueue.storage.sql.engine import make_engine
from tests.conftest import ServerUrls
from tests.e2e.conftest import Server, start, stop

pytestmark = [pytest.mark.slow, pytest.mark.sqlite]

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
HOSTILE = "<img src=x onerror=alert(1)>"
NOTHING = "\u2013"  # an en dash: the page's "no value"
WAIT = 20.0
"""Seconds the browser may take to show a change (the page refreshes every 0.5 s)."""


def browser_binaries() -> tuple[str, str] | None:
    """Paths of Chromium and its WebDriver, when installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    binaries = browser_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing (.ci/run installs them)")
        pytest.skip("chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = binaries[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1000")
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=binaries[1]))
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture(scope="module")
def admin(server_urls: ServerUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start(
        server_urls.url("sqlite", "e2e_dashboard"),
        tmp_path_factory.mktemp("dashboard") / "server.log",
        "sqlite",
        SQLQUEUE_ADMIN_MODE="true",
        SQLQUEUE_DASHBOARD_REFRESH="0.5",
        SQLQUEUE_CATALOGUE_CACHE_SECONDS="0.1",
    )
    try:
        yield running
    finally:
        stop(running.process)


class Client:
    """The HTTP API as one project sees it."""

    def __init__(self, server: Server, project: str) -> None:
        self.url = server.url
        self.headers = {"Client-ID": str(uuid.uuid4()), "X-Project-Id": project}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = requests.request(
            method, self.url + path, headers=self.headers, json=body, timeout=10
        )
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def post(self, queue: str, count: int) -> None:
        messages = [{"body": {"n": n}, "ttl": 600} for n in range(count)]
        self.call("POST", f"/v2/queues/{queue}/messages", {"messages": messages})

    def stats(self, queue: str) -> dict[str, int]:
        return dict(self.call("GET", f"/v2/queues/{queue}/stats")["messages"])


READ_ROWS = """
return Array.from(document.querySelectorAll(arguments[0]), (row) => {
  const cells = {};
  for (const td of row.querySelectorAll("td")) {
    cells[td.classList[td.classList.length - 1]] = td.innerText;
  }
  return {data: Object.assign({}, row.dataset), classes: row.className, cells: cells};
});
"""
# The page swaps its <main> every refresh: read a table in one script, never
# through element handles that the next refresh makes stale.


def rows(browser: webdriver.Chrome, selector: str) -> list[dict[str, Any]]:
    """Each row of ``selector``: its data attributes, classes and cell texts by class."""
    found: list[dict[str, Any]] = browser.execute_script(READ_ROWS, selector)
    return found


def queue_cells(browser: webdriver.Chrome, project: str, queue: str) -> dict[str, str]:
    """The cells of a queue's row on the front page, once it shows."""

    def find(_: Any) -> dict[str, str] | None:
        for row in rows(browser, "#queues tr.queue"):
            if (row["data"]["project"], row["data"]["queue"]) == (project, queue):
                return dict(row["cells"])
        return None

    found: dict[str, str] = WebDriverWait(browser, WAIT).until(find)
    return found


def rate(shown: str) -> float:
    """A rate cell as a number (0 while the page has a single snapshot: NOTHING)."""
    return 0.0 if shown == NOTHING else float(shown)


def text(browser: webdriver.Chrome, selector: str) -> str:
    """The visible text of the first element matching ``selector`` ("" if none)."""
    found = browser.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector
    )
    return str(found)


def hostile_elements(browser: webdriver.Chrome) -> int:
    """Elements that only injected markup could have put in the page."""
    found = browser.execute_script(
        "return document.querySelectorAll('main img, main svg, main script, main b').length;"
    )
    return int(found)


def no_alert(browser: webdriver.Chrome) -> bool:
    try:
        browser.switch_to.alert.dismiss()
    except NoAlertPresentException:
        return True
    return False


def test_queues_show_the_depth_the_api_reports(browser: webdriver.Chrome, admin: Server) -> None:
    ops, web = Client(admin, "ops"), Client(admin, "web")
    ops.post("jobs", 7)
    ops.call("POST", "/v2/queues/jobs/claims?limit=3", {"ttl": 300, "grace": 60})
    web.post("mail", 2)
    web.call("PUT", "/v2/queues/idle", {})

    browser.get(f"{admin.url}/dashboard")
    for client, queue in [(ops, "jobs"), (web, "mail"), (web, "idle")]:
        shown = queue_cells(browser, client.headers["X-Project-Id"], queue)
        stats = client.stats(queue)
        counts = (shown["free"], shown["claimed"], shown["total"])
        assert counts == (str(stats["free"]), str(stats["claimed"]), str(stats["total"]))
    jobs = queue_cells(browser, "ops", "jobs")
    assert jobs["share"] == "43%"  # 3 of 7 claimed
    assert 0 <= int(jobs["oldest"]) <= ops.stats("jobs")["oldest"]["age"] + 1  # type: ignore[index]
    projects = {
        row["cells"]["name"]: row["cells"]["queues"]
        for row in rows(browser, "#projects tr.project")
    }
    assert (projects["ops"], projects["web"]) == ("1", "2")
    default = rows(browser, "#databases tr.database")[0]
    assert (default["cells"]["name"], default["cells"]["state"]) == ("(default database)", "up")
    assert default["cells"]["queues"] == str(sum(int(count) for count in projects.values()))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))


def test_page_follows_posts_and_deletes_without_reloading(
    browser: webdriver.Chrome, admin: Server
) -> None:
    feed = Client(admin, "feed")
    feed.post("ticks", 1)
    browser.get(f"{admin.url}/dashboard")
    queue_cells(browser, "feed", "ticks")
    browser.execute_script("window.sameDocument = true;")

    feed.post("ticks", 4)
    WebDriverWait(browser, WAIT).until(lambda b: queue_cells(b, "feed", "ticks")["total"] == "5")
    feed.post("ticks", 5)
    WebDriverWait(browser, WAIT).until(lambda b: queue_cells(b, "feed", "ticks")["total"] == "10")
    assert rate(queue_cells(browser, "feed", "ticks")["post-rate"]) > 0

    claimed = feed.call("POST", "/v2/queues/ticks/claims?limit=4", {"ttl": 60, "grace": 60})
    for message in claimed["messages"]:  # consumed: claimed, then deleted
        requests.delete(feed.url + message["href"], headers=feed.headers, timeout=10)
    WebDriverWait(browser, WAIT).until(lambda b: queue_cells(b, "feed", "ticks")["total"] == "6")
    WebDriverWait(browser, WAIT).until(
        lambda b: rate(queue_cells(b, "feed", "ticks")["consume-rate"]) > 0
    )
    assert browser.execute_script("return window.sameDocument === true;")


def test_unreachable_pool_is_shown_down(
    browser: webdriver.Chrome, admin: Server, server_urls: ServerUrls
) -> None:
    # The API refuses to register an unreachable pool, so this one is written
    # straight into the catalogue, as if its database had gone away since.
    engine = make_engine(server_urls.url("sqlite", "e2e_dashboard"))
    control = SqlControlDriver(engine)
    control.pools.create(Pool("lost", "postgresql://sqlqueue@127.0.0.1:1/gone", 5))
    try:
        browser.get(f"{admin.url}/dashboard")
        lost = WebDriverWait(browser, WAIT).until(
            lambda b: [r for r in rows(b, "#databases tr.database") if r["data"]["pool"] == "lost"]
        )[0]
        assert "down" in lost["classes"].split()
        cells = lost["cells"]
        assert (cells["state"], cells["weight"], cells["queues"]) == ("down", "5", "?")
    finally:
        control.pools.delete("lost")
        engine.dispose()


def test_hostile_names_and_metadata_render_as_text(
    browser: webdriver.Chrome, admin: Server
) -> None:
    project = "<svg onload=alert(2)>"
    evil = Client(admin, project)
    metadata = {"description": HOSTILE, "<b>key</b>": "</code><script>alert(3)</script>"}
    evil.call("PUT", "/v2/queues/evil", metadata)
    evil.post("evil", 1)

    browser.get(f"{admin.url}/dashboard")
    shown = queue_cells(browser, project, "evil")
    assert shown["project"] == project
    assert HOSTILE in shown["metadata"] and "<script>alert(3)</script>" in shown["metadata"]
    assert hostile_elements(browser) == 0

    browser.find_element(By.CSS_SELECTOR, '#queues tr[data-queue="evil"] td.name a').click()
    WebDriverWait(browser, WAIT).until(lambda b: text(b, "#queue-project") == project)
    assert HOSTILE in text(browser, "#metadata")
    stats = rows(browser, "#stats tr")
    assert [row["cells"]["total"] for row in stats if "total" in row["cells"]] == ["1"]
    assert hostile_elements(browser) == 0
    assert no_alert(browser)
