"""Topics on the storage contract, on every backend.

A topic is a queue stored under its key in the topic namespace
(domain/namespaces.py): these tests show that the contract written for
queues serves topics unchanged, and that topic X and queue X never touch
each other's metadata, messages, subscriptions, outbox rows or listings.
"""

from __future__ import annotations

import pytest

from sqlqueue import errors
from sqlqueue.domain import namespaces
from sqlqueue.domain.namespaces import QUEUES, TOPICS
from sqlqueue.storage.base import SingleStore
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.storage.helpers import PROJECT, post

NAME = "news"
KEY = TOPICS.key(NAME)
LEASE = 30.0


def test_namespaces_are_disjoint_key_ranges() -> None:
    name = "a.Z-_9" + "z" * 58
    assert len(name) == 64
    assert QUEUES.owns(name) and not TOPICS.owns(name)
    assert TOPICS.owns(TOPICS.key(name)) and not QUEUES.owns(TOPICS.key(name))
    assert namespaces.name(TOPICS.key(name)) == name
    assert namespaces.path(TOPICS.key(name)) == f"/v2/topics/{name}"
    assert namespaces.path(name) == f"/v2/queues/{name}"
    assert namespaces.label(KEY) == "Topic news"


def test_topic_and_queue_of_one_name_are_two_resources(driver: SqlDataDriver) -> None:
    driver.queues.create(PROJECT, NAME, {"kind": "queue"})
    driver.queues.create(PROJECT, KEY, {"kind": "topic"})
    queue_ids = post(driver, 2, queue=NAME)
    topic_ids = post(driver, 3, queue=KEY)
    assert driver.queues.get_metadata(PROJECT, NAME) == {"kind": "queue"}
    assert driver.queues.get_metadata(PROJECT, KEY) == {"kind": "topic"}
    assert driver.queues.stats(PROJECT, NAME).total == 2
    assert driver.queues.stats(PROJECT, KEY).total == 3
    listed = driver.messages.list(PROJECT, KEY, echo=True).items
    assert [m.id for m in listed] == topic_ids
    with pytest.raises(errors.MessageDoesNotExist):
        driver.messages.get(PROJECT, KEY, queue_ids[0])
    driver.queues.delete(PROJECT, KEY)
    assert not driver.queues.exists(PROJECT, KEY)
    assert driver.queues.stats(PROJECT, NAME).total == 2
    assert [m.id for m in driver.messages.list(PROJECT, NAME, echo=True).items] == queue_ids


def test_a_missing_topic_is_named_as_a_topic(driver: SqlDataDriver) -> None:
    with pytest.raises(errors.QueueDoesNotExist, match=r"^Topic news does not exist$"):
        driver.queues.get_metadata(PROJECT, KEY)


def test_listings_keep_to_their_namespace(driver: SqlDataDriver) -> None:
    for i in range(12):
        driver.queues.create(PROJECT, f"t{i:02d}", {"i": i})
        driver.queues.create(PROJECT, TOPICS.key(f"t{i:02d}"), {"i": i, "topic": True})
    queues = driver.queues.list(PROJECT, limit=20, with_count=True)
    assert [q.name for q in queues.items] == [f"t{i:02d}" for i in range(12)]
    assert queues.count == 12
    first = driver.queues.list(PROJECT, detailed=True, namespace=TOPICS, with_count=True)
    assert [q.name for q in first.items] == [TOPICS.key(f"t{i:02d}") for i in range(10)]
    assert first.items[0].metadata == {"i": 0, "topic": True}
    assert first.count == 12
    second = driver.queues.list(PROJECT, marker=first.next_marker, namespace=TOPICS)
    assert [q.name for q in second.items] == [TOPICS.key("t10"), TOPICS.key("t11")]
    filtered = driver.queues.list(PROJECT, name="t1", filters={"i": 11}, namespace=TOPICS)
    assert [q.name for q in filtered.items] == [TOPICS.key("t11")]
    assert driver.queues.list(PROJECT, name="~", namespace=TOPICS).items == []


def test_longest_names_fit_in_both_namespaces(driver: SqlDataDriver) -> None:
    name = "n" * 64
    store = SingleStore(driver)
    assert store.create_queue(PROJECT, name)
    assert store.create_queue(PROJECT, TOPICS.key(name))
    sid = driver.subscriptions.create(PROJECT, TOPICS.key(name), "http://h/long", 600, {})
    assert sid is not None
    post(driver, 1, queue=TOPICS.key(name))
    [taken] = driver.deliveries.take_due(10, LEASE)
    assert taken.queue == TOPICS.key(name)
    page = store.list_queues(PROJECT, namespace=TOPICS)
    assert [q.name for q in page.items] == [TOPICS.key(name)]


def test_a_topic_post_fans_out_to_the_topic_subscribers_only(driver: SqlDataDriver) -> None:
    hooks = [driver.subscriptions.create(PROJECT, KEY, f"http://h/{n}", 600, {}) for n in range(3)]
    queue_hook = driver.subscriptions.create(PROJECT, NAME, "http://h/queue", 600, {})
    assert queue_hook is not None
    assert [s.id for s in driver.subscriptions.list(PROJECT, NAME).items] == [queue_hook]
    assert sorted(s.id for s in driver.subscriptions.list(PROJECT, KEY).items) == sorted(hooks)
    posted = post(driver, 2, queue=KEY)
    taken = driver.deliveries.take_due(100, LEASE)
    assert sorted((d.subscription_id, d.message_id) for d in taken) == sorted(
        (sid, mid) for sid in hooks for mid in posted
    )
    assert {d.queue for d in taken} == {KEY}
