"""A queue moved between pools while 4 producers and 4 consumers use it.

Producers post through one worker's public app and consumers claim and
delete through another's, each with its own storage and cached placements
(``catalogue_cache_seconds`` = 1), as separate processes would; a third
storage moves the queue, as ``sqlqueue queue move`` would. Real databases
and real threads: PostgreSQL -> MySQL -> PostgreSQL, and SQLite -> PostgreSQL.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from sqlqueue.bootstrap import Storage, create_app, create_storage
from sqlqueue.config import Settings
from sqlqueue.domain.moves import MoveResult
from sqlqueue.storage.sql.engine import make_engine
from tests.admin.conftest import message_counts
from tests.conftest import ServerUrls, empty_tables
from tests.transport.conftest import Api

pytestmark = pytest.mark.slow

PRODUCERS = CONSUMERS = 4
QUEUE = "live"


def pool_url(server_urls: ServerUrls, tmp: Path, backend: str, name: str) -> str:
    """An empty database for a pool on ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp}/{name}.db"
    url = server_urls.url(backend, name)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            migrated = sa.inspect(conn).has_table("messages")
        if migrated:
            empty_tables(engine)
    finally:
        engine.dispose()
    return url


@dataclass
class Traffic:
    """What the producers posted and the consumers received, and every failure."""

    stop_posting: threading.Event = field(default_factory=threading.Event)
    stop_consuming: threading.Event = field(default_factory=threading.Event)
    posted: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    received: list[list[tuple[int, int]]] = field(
        default_factory=lambda: [[] for _ in range(CONSUMERS)]
    )
    batches: list[list[tuple[int, int]]] = field(default_factory=list)
    """What each claim and each listed page returned, in the order given."""
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def produce(api: Api, traffic: Traffic, producer: int) -> None:
    """Post numbered messages, one or two at a time, until told to stop."""
    n = 0
    while not traffic.stop_posting.is_set():
        batch = [{"body": {"p": producer, "n": n + i}, "ttl": 3600} for i in range(1 + n % 2)]
        result = api.post(f"/v2/queues/{QUEUE}/messages", json={"messages": batch})
        if result.status_code != 201:
            traffic.fail(f"post: {result.status_code} {result.text}")
            continue
        traffic.posted[producer] += [m["body"]["n"] for m in batch]
        n += len(batch)


def consume(api: Api, traffic: Traffic, consumer: int) -> None:
    """Claim up to 5 messages, delete each with the claim id; until told to stop."""
    while not traffic.stop_consuming.is_set():
        claimed = api.post(f"/v2/queues/{QUEUE}/claims?limit=5", json={"ttl": 300, "grace": 60})
        if claimed.status_code == 204:
            time.sleep(0.01)
            continue
        if claimed.status_code != 201:
            traffic.fail(f"claim: {claimed.status_code} {claimed.text}")
            continue
        batch = [(m["body"]["p"], m["body"]["n"]) for m in claimed.json["messages"]]
        traffic.batches.append(batch)
        for message in claimed.json["messages"]:
            traffic.received[consumer].append((message["body"]["p"], message["body"]["n"]))
            time.sleep(random.uniform(0, 0.003))  # claims held across the switch
            deleted = api.delete(message["href"])
            if deleted.status_code != 204:
                traffic.fail(f"delete: {deleted.status_code} {deleted.text}")


def observe(api: Api, traffic: Traffic) -> None:
    """List pages of the queue (claimed messages too), as a reader in marker order."""
    path = f"/v2/queues/{QUEUE}/messages?echo=true&include_claimed=true&limit=20"
    while not traffic.stop_consuming.is_set():
        listed = api.get(path)
        if listed.status_code != 200:
            traffic.fail(f"list: {listed.status_code} {listed.text}")
            continue
        page = [(m["body"]["p"], m["body"]["n"]) for m in listed.json["messages"]]
        traffic.batches.append(page)
        time.sleep(0.02)


@pytest.fixture
def storages(tmp_path: Path) -> Iterator[list[Storage]]:
    """Producers' worker, consumers' worker and the mover, over one catalogue."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/catalogue.db", catalogue_cache_seconds=1.0
    )
    made = [create_storage(settings) for _ in range(3)]
    yield made
    for storage in made:
        storage.close()


def run_moves(
    storages: list[Storage], urls: dict[str, str], hops: list[str]
) -> tuple[Traffic, list[MoveResult]]:
    """Traffic on a queue placed on the first pool while it moves along ``hops``."""
    mover = storages[2].admin
    first, *rest = urls
    mover.pools.put(first, uri=urls[first], weight=1)
    settings = replace(Settings(), signed_url_secret="s")
    producers, consumers = (Api(create_app(settings, storage=s)) for s in storages[:2])
    assert producers.put(f"/v2/queues/{QUEUE}").status_code == 201
    for name in rest:
        mover.pools.put(name, uri=urls[name], weight=1)
    traffic = Traffic()
    threads = [
        threading.Thread(target=produce, args=(producers, traffic, p)) for p in range(PRODUCERS)
    ] + [threading.Thread(target=consume, args=(consumers, traffic, c)) for c in range(CONSUMERS)]
    threads.append(threading.Thread(target=observe, args=(consumers, traffic)))
    for thread in threads:
        thread.start()
    results = []
    try:
        for hop in hops:
            time.sleep(1.5)
            results.append(mover.moves.move(producers.project, QUEUE, hop))
        time.sleep(1.0)
    finally:
        traffic.stop_posting.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(map(len, traffic.received)) < sum(
            map(len, traffic.posted.values())
        ):
            time.sleep(0.1)
        traffic.stop_consuming.set()
        for thread in threads:
            thread.join(30)
    return traffic, results


def check_exactly_once_in_order(traffic: Traffic) -> None:
    """Every posted message received once; marker order is each producer's post order.

    Every claim and every listed page (both in marker order) has each
    producer's messages in the order posted, before, during and after the
    moves. (A consumer's successive claims are not checked against each
    other: claims skip rows locked by others, so a claim racing another
    claim, or the move's lock, may take newer messages first.)
    """
    assert traffic.failures == []
    assert sum(map(len, traffic.posted.values())) > 100, "too little traffic to tell"
    received = [item for stream in traffic.received for item in stream]
    posted = [(p, n) for p, numbers in traffic.posted.items() for n in numbers]
    assert len(received) == len(set(received)), "a message was received twice"
    assert set(received) == set(posted), "a message was lost"
    assert sum(len(b) > 1 for b in traffic.batches) > 10, "too few batches to tell"
    for batch in traffic.batches:
        for producer in range(PRODUCERS):
            numbers = [n for p, n in batch if p == producer]
            assert numbers == sorted(numbers)


@pytest.mark.postgresql
@pytest.mark.mysql
def test_postgresql_to_mysql_and_back_under_traffic(
    storages: list[Storage], server_urls: ServerUrls, tmp_path: Path
) -> None:
    urls = {
        "pg": pool_url(server_urls, tmp_path, "postgresql", "move_pg"),
        "my": pool_url(server_urls, tmp_path, "mysql", "move_my"),
    }

    traffic, results = run_moves(storages, urls, ["my", "pg"])

    check_exactly_once_in_order(traffic)
    assert [r.target for r in results] == ["my", "pg"]
    assert all(r.messages >= 0 and r.pause_ms > 0 for r in results)
    assert message_counts(urls["my"]) == {} and message_counts(urls["pg"]) == {}
    assert storages[2].admin.placement("project-a", QUEUE).pool == "pg"
    print("write pauses (ms):", [round(r.pause_ms, 1) for r in results], results)


@pytest.mark.sqlite
@pytest.mark.postgresql
def test_sqlite_to_postgresql_under_traffic(
    storages: list[Storage], server_urls: ServerUrls, tmp_path: Path
) -> None:
    urls = {
        "lite": pool_url(server_urls, tmp_path, "sqlite", "move_lite"),
        "pg": pool_url(server_urls, tmp_path, "postgresql", "move_pg2"),
    }

    traffic, results = run_moves(storages, urls, ["pg"])

    check_exactly_once_in_order(traffic)
    assert message_counts(urls["lite"]) == {} and message_counts(urls["pg"]) == {}
    print("write pause (ms):", [round(r.pause_ms, 1) for r in results], results)
