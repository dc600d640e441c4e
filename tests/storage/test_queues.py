"""Queue controller contract, on every backend."""

from __future__ import annotations

import pytest

from sqlqueue import errors
from sqlqueue.domain.namespaces import TOPICS
from sqlqueue.storage.base import DataDriver
from tests.storage.helpers import PROJECT, QUEUE, post


@pytest.mark.parametrize("project", ["", PROJECT])
def test_list_pages_and_scopes(driver: DataDriver, project: str) -> None:
    other = "other" if project else PROJECT
    for i in range(15):
        driver.queues.create(project, f"q{i:02d}", {"i": i})
        driver.queues.create(other, f"x{i:02d}", {})
    first = driver.queues.list(project, detailed=True)
    assert [q.name for q in first.items] == [f"q{i:02d}" for i in range(10)]
    assert first.items[3].metadata == {"i": 3}
    second = driver.queues.list(project, marker=first.next_marker)
    assert [q.name for q in second.items] == [f"q{i:02d}" for i in range(10, 15)]
    assert all(q.metadata is None for q in second.items)
    assert driver.queues.list(project, marker=second.next_marker).items == []


def test_list_filters_and_count(driver: DataDriver) -> None:
    for name, meta in [("alpha", {"k": 1}), ("beta", {"k": 2}), ("alphabet", {"k": 1})]:
        driver.queues.create(PROJECT, name, meta)
    assert [q.name for q in driver.queues.list(PROJECT, name="lph").items] == ["alpha", "alphabet"]
    page = driver.queues.list(PROJECT, filters={"k": 1}, with_count=True)
    assert [q.name for q in page.items] == ["alpha", "alphabet"]
    assert page.count == 2
    assert driver.queues.list(PROJECT, with_count=True).count == 3
    assert driver.queues.list(PROJECT, name="%").items == []
    assert driver.queues.list(PROJECT, name="LPH").items == []


def test_queue_lifecycle(driver: DataDriver) -> None:
    assert driver.queues.create(PROJECT, QUEUE, {"topic": "x"}) is True
    assert driver.queues.exists(PROJECT, QUEUE)
    assert not driver.queues.exists("elsewhere", QUEUE)
    assert driver.queues.get_metadata(PROJECT, QUEUE) == {"topic": "x"}
    assert driver.queues.create(PROJECT, QUEUE, {"topic": "y"}) is False
    assert driver.queues.get_metadata(PROJECT, QUEUE) == {"topic": "x"}
    driver.queues.set_metadata(PROJECT, QUEUE, {"a": [1, "é"]})
    assert driver.queues.get_metadata(PROJECT, QUEUE) == {"a": [1, "é"]}
    driver.queues.delete(PROJECT, QUEUE)
    assert not driver.queues.exists(PROJECT, QUEUE)
    driver.queues.delete(PROJECT, QUEUE)
    with pytest.raises(errors.QueueDoesNotExist):
        driver.queues.get_metadata(PROJECT, QUEUE)
    with pytest.raises(errors.QueueDoesNotExist):
        driver.queues.set_metadata(PROJECT, QUEUE, {})


def test_delete_takes_messages_and_claims(driver: DataDriver) -> None:
    post(driver, 5)
    claim_id, _ = driver.claims.create(PROJECT, QUEUE, ttl=60, grace=60)
    assert claim_id is not None
    driver.queues.delete(PROJECT, QUEUE)
    driver.queues.create(PROJECT, QUEUE)
    assert driver.queues.stats(PROJECT, QUEUE).total == 0
    with pytest.raises(errors.ClaimDoesNotExist):
        driver.claims.get(PROJECT, QUEUE, claim_id)


def test_long_names_and_projects(driver: DataDriver) -> None:
    project, name = "p" * 256, "q" * 64
    assert driver.queues.create(project, name)
    post_ids = driver.messages.post(project, name, [], "c")
    assert post_ids == []
    assert [q.name for q in driver.queues.list(project).items] == [name]


def test_names_are_case_sensitive_and_sort_bytewise(driver: DataDriver) -> None:
    for name in ("foo", "Foo", "b-x", "b_x", "B.x"):
        assert driver.queues.create(PROJECT, name) is True
    driver.messages.post(PROJECT, "Foo", [], "c")
    names = [q.name for q in driver.queues.list(PROJECT).items]
    assert names == sorted(names) == ["B.x", "Foo", "b-x", "b_x", "foo"]
    assert [q.name for q in driver.queues.list(PROJECT, marker="Foo").items] == names[2:]


def test_projects_count_their_queues(driver: DataDriver) -> None:
    assert driver.queues.projects() == {}
    for project, name in [("a", "q1"), ("a", "q2"), ("<b>", "q1")]:
        driver.queues.create(project, name)
    assert driver.queues.projects() == {"a": 2, "<b>": 1}
    driver.queues.delete("a", "q1")
    assert driver.queues.projects() == {"a": 1, "<b>": 1}
    driver.queues.create("a", TOPICS.key("q1"))  # a topic is not a queue
    assert driver.queues.projects() == {"a": 1, "<b>": 1}
    assert driver.queues.projects(TOPICS) == {"a": 1}
