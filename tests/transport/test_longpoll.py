"""Long-poll (``?wait=``) on claim create and message list, on every backend.

Waiters and posters are real threads. "Another process" is a second data
driver on the same database: its posts reach this driver's waiters only
through the database (PostgreSQL NOTIFY, the shared poll elsewhere), never
through the in-process wake-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import create_app
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.transport.wsgi.longpoll import DISCONNECT_KEY
from tests.threads import run_threads
from tests.transport.conftest import ALL_BACKENDS, PROJECT, Api

CLAIM = {"ttl": 60, "grace": 60}
CLIENT = "c6b1f3f8-2a6e-4b8f-9a51-5d3f0e0f2a11"


def later(seconds: float, action: Callable[[], Any]) -> threading.Thread:
    """Run ``action`` after ``seconds`` in a thread (started)."""

    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


@pytest.fixture
def other(engine: Engine, clock: ManualClock) -> Iterator[SqlDataDriver]:
    """A second driver on the same database: stands for another server process."""
    driver = SqlDataDriver(engine, clock=clock)
    yield driver
    driver.wakeups.close()


def post_elsewhere(driver: SqlDataDriver, queue: str, body: Any) -> None:
    driver.messages.post(PROJECT, queue, [NewMessage(body, ttl=300)], CLIENT)


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_waiting_claim_gets_a_message_posted_meanwhile(api: Api) -> None:
    api.put("/v2/queues/lp")
    poster = later(0.3, lambda: api.post_messages("lp", {"n": 1}))
    took, got = timed(lambda: api.post("/v2/queues/lp/claims?wait=5", json=CLAIM))
    poster.join()
    assert got.status_code == 201, got.text
    assert [m["body"] for m in got.json["messages"]] == [{"n": 1}]
    assert 0.25 < took < 2.5


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_waiting_list_gets_a_message_posted_meanwhile(api: Api) -> None:
    api.put("/v2/queues/lp")
    poster = later(0.3, lambda: api.post_messages("lp", "hello"))
    took, got = timed(lambda: api.get("/v2/queues/lp/messages?wait=5&echo=true"))
    poster.join()
    assert got.status_code == 200, got.text
    assert [m["body"] for m in got.json["messages"]] == ["hello"]
    assert took < 2.5


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_a_wait_that_runs_out_answers_as_without_wait(api: Api) -> None:
    api.put("/v2/queues/lp")
    took, claimed = timed(lambda: api.post("/v2/queues/lp/claims?wait=1", json=CLAIM))
    assert claimed.status_code == 204
    assert 0.9 < took < 3
    took, listed = timed(lambda: api.get("/v2/queues/lp/messages?wait=1"))
    assert listed.status_code == 200
    assert listed.json["messages"] == []
    assert 0.9 < took < 3


def test_no_wait_answers_at_once(api: Api) -> None:
    for path in ("/v2/queues/lp/claims", "/v2/queues/lp/claims?wait=0"):
        took, got = timed(lambda p=path: api.post(p, json=CLAIM))  # type: ignore[misc]
        assert got.status_code == 204
        assert took < 0.5


@pytest.mark.parametrize("wait", ["21", "-1", "soon", "1.5"])
def test_a_bad_wait_is_a_400(api: Api, wait: str) -> None:
    for method, path in (("POST", "claims"), ("GET", "messages")):
        got = api.request(method, f"/v2/queues/lp/{path}?wait={wait}", json=CLAIM)
        assert got.status_code == 400, got.text
        assert "wait" in got.json["description"]
        assert set(got.json) >= {"title", "description"}


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_one_message_goes_to_one_of_several_waiters(api: Api) -> None:
    api.put("/v2/queues/lp")
    answers: list[tuple[float, int]] = []
    lock = threading.Lock()

    def waiter() -> None:
        took, got = timed(lambda: api.post("/v2/queues/lp/claims?wait=3", json=CLAIM))
        with lock:
            answers.append((took, got.status_code))

    def poster() -> None:
        time.sleep(0.3)
        api.post_messages("lp", "only one")

    run_threads([waiter, waiter, waiter, poster], timeout=30)
    winners = [took for took, status in answers if status == 201]
    losers = [took for took, status in answers if status == 204]
    assert len(winners) == 1 and len(losers) == 2
    assert winners[0] < 2
    assert all(took > 2.8 for took in losers)  # they kept waiting


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_a_post_wakes_only_waiters_of_its_queue(api: Api) -> None:
    api.put("/v2/queues/a")
    api.put("/v2/queues/b")
    poster = later(0.3, lambda: api.post_messages("a", 1))
    took, got = timed(lambda: api.post("/v2/queues/b/claims?wait=1", json=CLAIM))
    poster.join()
    assert got.status_code == 204
    assert took > 0.9
    assert api.post("/v2/queues/a/claims", json=CLAIM).status_code == 201


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_a_post_from_another_process_wakes_the_waiter(api: Api, other: SqlDataDriver) -> None:
    api.put("/v2/queues/lp")
    poster = later(0.5, lambda: post_elsewhere(other, "lp", "from afar"))
    took, got = timed(lambda: api.post("/v2/queues/lp/claims?wait=8", json=CLAIM))
    poster.join()
    assert got.status_code == 201, got.text
    assert [m["body"] for m in got.json["messages"]] == ["from afar"]
    assert took < 3  # woken by the database, not by the end of the wait


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_a_waiter_sleeps_while_nothing_is_posted(driver: SqlDataDriver) -> None:
    """Besides one wake-up when the process starts watching the queue (a post may have
    come before), a waiter is not woken until something is posted: each wake-up costs a
    claim query, and 1,000 waiters must cost almost nothing (issue 10)."""
    waiter = driver.wakeups.join(PROJECT, "quiet", consumes=True)
    try:
        wakes = sum(driver.wakeups.wait(waiter, 1.0) for _ in range(4))
    finally:
        driver.wakeups.leave(waiter)
        driver.wakeups.close()
    assert wakes <= 1


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_a_released_claim_wakes_the_waiter(api: Api) -> None:
    api.post_messages("lp", "again")
    first = api.post("/v2/queues/lp/claims", json=CLAIM)
    assert first.status_code == 201
    release = later(0.3, lambda: api.delete(first.headers["Location"]))
    took, got = timed(lambda: api.post("/v2/queues/lp/claims?wait=5", json=CLAIM))
    release.join()
    assert got.status_code == 201
    assert took < 2.5


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_stopping_answers_every_waiter_at_once(
    backend: str, settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    driver = SqlDataDriver(engine, clock=clock)
    api = Api(create_app(settings, driver=driver, clock=clock))
    api.put("/v2/queues/lp")
    answers: list[tuple[float, int, Any]] = []

    def claim() -> None:
        took, got = timed(lambda: api.post("/v2/queues/lp/claims?wait=10", json=CLAIM))
        answers.append((took, got.status_code, None))

    def listing() -> None:
        took, got = timed(lambda: api.get("/v2/queues/lp/messages?wait=10"))
        answers.append((took, got.status_code, got.json["messages"]))

    def stop() -> None:
        time.sleep(0.5)
        driver.wakeups.close()

    run_threads([claim, claim, listing, stop], timeout=30)
    assert sorted((status, found) for _took, status, found in answers) == [
        (200, []),
        (204, None),
        (204, None),
    ]
    assert all(took < 3 for took, _status, _found in answers)  # not at the end of the wait


def claim_one(api: Api, wait: int, out: list[tuple[float, int, list[Any]]]) -> None:
    """A long-poll claim of at most one message; appends (seconds, status, bodies) to ``out``."""
    took, got = timed(lambda: api.post(f"/v2/queues/lp/claims?limit=1&wait={wait}", json=CLAIM))
    bodies = [m["body"] for m in got.json["messages"]] if got.status_code == 201 else []
    out.append((took, got.status_code, bodies))


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
@pytest.mark.parametrize("where", ["here", "elsewhere"])
def test_a_post_of_n_messages_reaches_n_waiters(api: Api, other: SqlDataDriver, where: str) -> None:
    """Three messages in one post, four waiters taking one each: three get one at once."""
    api.put("/v2/queues/lp")
    answers: list[tuple[float, int, list[Any]]] = []

    def poster() -> None:
        time.sleep(0.5)
        if where == "here":
            api.post_messages("lp", 1, 2, 3)
        else:
            other.messages.post(PROJECT, "lp", [NewMessage(n, ttl=300) for n in (1, 2, 3)], CLIENT)

    run_threads([lambda: claim_one(api, 4, answers) for _ in range(4)] + [poster], timeout=30)
    got = sorted(body for _took, status, bodies in answers if status == 201 for body in bodies)
    assert got == [1, 2, 3]
    assert sorted(status for _took, status, _bodies in answers) == [201, 201, 201, 204]
    assert all(took < 3 for took, status, _bodies in answers if status == 201)


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_no_message_posted_while_they_wait_is_left_behind(api: Api, other: SqlDataDriver) -> None:
    """Posts one by one, here and from another process, close together: each waiter
    gets one message before its wait runs out."""
    api.put("/v2/queues/lp")
    answers: list[tuple[float, int, list[Any]]] = []

    def poster() -> None:
        time.sleep(0.5)
        for n in range(6):
            if n % 2:
                post_elsewhere(other, "lp", n)
            else:
                api.post_messages("lp", n)
            time.sleep(0.02)

    run_threads([lambda: claim_one(api, 8, answers) for _ in range(6)] + [poster], timeout=60)
    assert [status for _took, status, _bodies in answers] == [201] * 6
    assert sorted(body for _took, _status, bodies in answers for body in bodies) == list(range(6))
    assert all(took < 6 for took, _status, _bodies in answers)  # woken, not at the deadline


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_every_listing_waiter_sees_a_post_that_one_claim_takes(api: Api) -> None:
    api.put("/v2/queues/lp")
    listed: list[list[Any]] = []
    claimed: list[tuple[float, int, list[Any]]] = []

    def lister() -> None:
        got = api.get("/v2/queues/lp/messages?wait=5&echo=true&include_claimed=true")
        listed.append([m["body"] for m in got.json["messages"]])

    def poster() -> None:
        time.sleep(0.5)
        api.post_messages("lp", "seen by all")

    run_threads(
        [lister, lister, lambda: claim_one(api, 5, claimed), poster],
        timeout=30,
    )
    assert listed == [["seen by all"], ["seen by all"]]
    assert [(status, bodies) for _took, status, bodies in claimed] == [(201, ["seen by all"])]


@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)
def test_a_client_that_leaves_ends_its_wait_and_takes_nothing(api: Api) -> None:
    """The server calls ``sqlqueue.on_disconnect``'s callbacks when the client goes
    away: the request ends at once, and a later post goes to a waiter still there."""
    api.put("/v2/queues/lp")
    callbacks: list[Callable[[], None]] = []
    leaving: list[tuple[float, int]] = []
    staying: list[tuple[float, int, list[Any]]] = []

    def leaver() -> None:
        took, got = timed(
            lambda: api.post(
                "/v2/queues/lp/claims?wait=10",
                json=CLAIM,
                extras={DISCONNECT_KEY: callbacks},
            )
        )
        leaving.append((took, got.status_code))

    def events() -> None:
        time.sleep(0.5)
        for callback in list(callbacks):
            callback()
        time.sleep(0.3)
        api.post_messages("lp", "for who stayed")

    run_threads([leaver, lambda: claim_one(api, 10, staying), events], timeout=30)
    assert [status for _took, status in leaving] == [204]
    assert leaving[0][0] < 3
    assert [(status, bodies) for _took, status, bodies in staying] == [(201, ["for who stayed"])]


def test_the_openapi_document_describes_wait(api: Api) -> None:
    spec = api.get("/v2/openapi.json").json
    for path, method in (("claims", "post"), ("messages", "get")):
        params = spec["paths"][f"/v2/queues/{{queue_name}}/{path}"][method]["parameters"]
        wait = next(p for p in params if p["name"] == "wait")
        assert wait["schema"]["maximum"] == 20
