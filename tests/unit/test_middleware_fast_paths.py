"""Per-request shortcuts (request ids, text log lines) agree with the long way."""

from __future__ import annotations

import logging
import re
import sys
import uuid

import pytest

from sqlqueue import logs
from sqlqueue.transport.wsgi.middleware import new_request_id

REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_request_ids_are_random_uuid4_text() -> None:
    ids = [new_request_id() for _ in range(400)]
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        assert REQUEST_ID.fullmatch(request_id), request_id
        parsed = uuid.UUID(request_id[4:])
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert f"req-{parsed}" == request_id
    assert {request_id.split("-")[4][0] for request_id in ids} == set("89ab")


def _record(
    created: float, msg: str = "%s done in %.1fms", args: tuple = ("x", 1.25)
) -> logging.LogRecord:
    record = logging.LogRecord("sqlqueue.access", logging.INFO, "x", 1, msg, args, None)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    return record


@pytest.mark.parametrize(
    "created",
    [1796025600.0, 1796025600.0005, 1796025600.518, 1796025600.999, 1796025601.0, 1796111999.9999],
)
def test_text_formatter_writes_what_logging_formatter_writes(created: float) -> None:
    expected = logging.Formatter(logs.TEXT_FORMAT).format(_record(created))
    assert logs.TextFormatter().format(_record(created)) == expected


def test_text_formatter_reuses_a_second_only_within_it() -> None:
    reference, formatter = logging.Formatter(logs.TEXT_FORMAT), logs.TextFormatter()
    moments = [
        1796025659.998,
        1796025659.999,
        1796025660.0,
        1796025660.001,
        1796025659.5,
        1796025720.25,
    ]
    for created in moments:
        assert formatter.format(_record(created)) == reference.format(_record(created))
    unformatted = _record(1796025660.5, "100% of %s", ())
    assert formatter.format(unformatted) == reference.format(unformatted)


def test_text_formatter_appends_tracebacks_and_stacks_as_logging_does() -> None:
    reference, formatter = logging.Formatter(logs.TEXT_FORMAT), logs.TextFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        failure = sys.exc_info()
    for exc_info, stack in ((failure, None), (None, "Stack (most recent call last):\n  here")):
        first, second = (
            logging.LogRecord(
                "sqlqueue", logging.ERROR, "x", 1, "failed", (), exc_info, sinfo=stack
            )
            for _ in range(2)
        )
        second.created, second.msecs = first.created, first.msecs
        assert formatter.format(first) == reference.format(second)


def test_text_logs_use_the_text_formatter() -> None:
    assert logs.dict_config("INFO", "text")["formatters"]["sqlqueue"] == {
        "()": "sqlqueue.logs.TextFormatter"
    }
    terminal = logs.dict_config("INFO", "text", terminal=True)["formatters"]["sqlqueue"]
    assert terminal == {"format": logs.TERMINAL_FORMAT}
