"""The plain fast path for posted messages never accepts what the schema refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlqueue.domain.limits import Limits
from sqlqueue.transport.wsgi.errors import InvalidBody
from sqlqueue.transport.wsgi.validation import Validator

VALIDATOR = Validator(Limits())
numbers = st.one_of(
    st.integers(-10, 2_000_000), st.floats(allow_nan=False), st.booleans(), st.none(), st.text()
)
items = st.dictionaries(
    st.sampled_from(["body", "ttl", "delay", "other"]),
    st.one_of(numbers, st.lists(st.integers(), max_size=2)),
)
documents = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(st.one_of(items, numbers), max_size=4)}),
    st.dictionaries(st.text(max_size=3), items, max_size=2),
    numbers,
)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_fast_path_agrees_with_the_schema(document: Any) -> None:
    if VALIDATOR._plainly_valid_messages(document):
        assert VALIDATOR._messages.is_valid(document)


@pytest.mark.parametrize(
    "document",
    [
        {"messages": [{"body": 1, "ttl": 59}]},
        {"messages": [{"body": 1, "ttl": True}]},
        {"messages": [{"body": 1, "delay": 901}]},
        {"messages": [{"ttl": 60}]},
        {"messages": []},
        {"messages": [[]]},
    ],
)
def test_bad_bodies_still_refused(document: Any) -> None:
    with pytest.raises(InvalidBody):
        VALIDATOR.messages(document)


def test_plain_bodies_take_the_fast_path() -> None:
    document = {"messages": [{"body": {"a": 1}, "ttl": 60, "delay": 0}, {"body": None}]}
    assert VALIDATOR._plainly_valid_messages(document)
    assert [m.ttl for m in VALIDATOR.messages(document)] == [60, None]
