"""Per-request shortcuts (request ids, text lines, Accept, Client-ID) agree with the long way."""

from __future__ import annotations

import io
import logging
import math
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import falcon
import falcon.testing
import pytest
from prometheus_client import REGISTRY

from sqlqueue import errors, logs
from sqlqueue.domain import identity
from sqlqueue.domain.limits import Limits
from sqlqueue.observe.metrics import UNMATCHED
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.metrics import PATH as METRICS_PATH
from sqlqueue.transport.wsgi.metrics import SCRAPE_TYPES, RequestMetrics
from sqlqueue.transport.wsgi.middleware import accepts_json, new_request_id

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


def _isoformat(created: float) -> str:
    """The JSON lines' time as it was written before the shortcut."""
    stamp = datetime.fromtimestamp(created, tz=UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "created",
    [
        0.0,
        1e-7,
        0.0004995,
        0.0005,
        0.9999995,
        0.9999996,
        -1e-7,
        -0.9999996,
        -1.5,
        1796025600.0,
        1796025600.518,
        1796025600.0005,
        1796025659.9999996,
        1796111999.9999999,
    ],
)
def test_json_time_is_what_datetime_writes(created: float) -> None:
    assert logs.JsonFormatter().utc_time(created) == _isoformat(created)


def test_json_time_near_every_rounding_edge() -> None:
    formatter, rng = logs.JsonFormatter(), random.Random(4)
    second = 1796025600
    for _ in range(20000):
        second += rng.choice((0, 0, 1, -1))
        near = second + (rng.randrange(1_000_000) + rng.choice((0.0, 0.5))) / 1e6
        created = math.nextafter(near, rng.choice((math.inf, -math.inf, near)))
        assert formatter.utc_time(created) == _isoformat(created), created


def _general_accepts(req: Request) -> bool:
    """The check before the shortcut: Falcon's media-range parser every time."""
    return (
        req.client_accepts_json
        or req.client_accepts("application/json-home")
        or (req.path == METRICS_PATH and any(map(req.client_accepts, SCRAPE_TYPES)))
    )


@pytest.mark.parametrize("path", ["/v2/queues", METRICS_PATH])
@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/json",
        "APPLICATION/JSON",
        "application/json; q=0",
        "application/json ",
        "application/*",
        "application/json-home",
        "application/xml",
        "text/html",
        "text/html, application/json;q=0.5",
        "text/plain",
        "application/openmetrics-text; version=1.0.0",
        "image/*",
        ";;;",
    ],
)
def test_accept_shortcut_agrees_with_the_media_range_parser(path: str, accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    environ = falcon.testing.create_environ(path=path, headers=headers)
    if accept == "":
        environ["HTTP_ACCEPT"] = ""
    assert accepts_json(Request(environ)) == _general_accepts(Request(environ))


@pytest.mark.parametrize(
    "value",
    [
        "3381af92-2b9e-11e3-b191-71861300734c",
        str(uuid.uuid4()),
        str(uuid.uuid4()).upper(),
        "{" + str(uuid.uuid4()) + "}",
        "urn:uuid:" + str(uuid.uuid4()),
        uuid.uuid4().hex,
    ],
)
def test_client_ids_are_stored_canonical(value: str) -> None:
    assert identity.check_client_id(value, Limits()) == str(uuid.UUID(value))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not-a-uuid",
        "3381af92-2b9e-11e3-b191-71861300734",
        "g" * 32,
        "3381af92-2b9e-11e3-b191-71861300734c\n",
    ],
)
def test_malformed_client_ids_are_refused(value: str) -> None:
    with pytest.raises(errors.ValidationFailed, match="Malformed hexadecimal UUID"):
        identity.check_client_id(value, Limits())


def _requests(**labels: str) -> float:
    return REGISTRY.get_sample_value("sqlqueue_http_requests_total", labels) or 0.0


def test_request_metrics_label_as_before_and_cache_only_known_methods() -> None:
    metrics = RequestMetrics([])
    before = {
        "POST": _requests(method="POST", route=UNMATCHED, status="201"),
        "other": _requests(method="other", route=UNMATCHED, status="405"),
    }
    answers = [("POST", falcon.HTTP_201), ("POST", 201), ("BREW", 405), ("BREW2", falcon.HTTP_405)]
    for method, status in answers:
        req = Request(falcon.testing.create_environ(method=method, path="/nowhere"))
        req.context.started = time.perf_counter()
        resp = falcon.Response()
        resp.status = status
        metrics.process_response(req, resp, None, True)
    assert _requests(method="POST", route=UNMATCHED, status="201") == before["POST"] + 2
    assert _requests(method="other", route=UNMATCHED, status="405") == before["other"] + 2
    assert {key[0] for key in metrics._children} == {"POST"}  # bounded: no client tokens


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


TIMES = {"created", "msecs", "relativeCreated"}


def _both_ways(logger: logging.Logger) -> tuple[logging.LogRecord, logging.LogRecord]:
    keep = _Keep()
    logger.addHandler(keep)
    try:
        args = ("127.0.0.1", "GET", "/v2/queues/q/stats", 200, "1.5", "p", "req-1")
        fields = {logs.ACCESS: {"status": 200}}
        logger.log(logging.INFO, '%s "%s %s" %s %sms project=%s request_id=%s', *args, extra=fields)
        logs.emit(logger, logging.INFO, '%s "%s %s" %s %sms project=%s request_id=%s', args, fields)
    finally:
        logger.removeHandler(keep)
    return keep.records[0], keep.records[1]


def test_emitted_records_are_the_records_logging_makes() -> None:
    logs.lean_records()
    logger = logging.getLogger("sqlqueue.test.emit")
    logger.setLevel(logging.INFO)
    assert logs.is_lean()
    made, emitted = _both_ways(logger)
    assert type(emitted) is logging.LogRecord
    assert {k: v for k, v in vars(emitted).items() if k not in TIMES} == {
        k: v for k, v in vars(made).items() if k not in TIMES
    }
    assert 0 <= emitted.created - made.created < 1
    assert emitted.msecs == int((emitted.created - int(emitted.created)) * 1000)
    assert emitted.getMessage() == made.getMessage()


def test_emit_takes_the_long_way_under_a_record_factory() -> None:
    class Tagged(logging.LogRecord):
        pass

    logs.lean_records()
    logger = logging.getLogger("sqlqueue.test.emit")
    logger.setLevel(logging.INFO)
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(Tagged)
    try:
        assert not logs.is_lean()
        made, emitted = _both_ways(logger)
    finally:
        logging.setLogRecordFactory(previous)
    assert type(made) is type(emitted) is Tagged


LINE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")

TextLogger = tuple[logging.Logger, "logging.StreamHandler[io.StringIO]", io.StringIO]


@pytest.fixture
def text_logger() -> Iterator[TextLogger]:
    """A logger of its own writing through a plain stream handler, as ``serve``'s root."""
    logs.lean_records()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.TextFormatter())
    logger = logging.Logger("sqlqueue.test.text", logging.INFO)  # unregistered: pytest's
    logger.propagate = False  # capturing handlers (on registered loggers) stay off it
    logger.addHandler(handler)
    yield logger, handler, stream


def _access_lines(logger: logging.Logger, app_logger: str, stream: io.StringIO) -> list[str]:
    """Two requests through AccessLog: the access lines written for them."""
    from sqlqueue.transport.wsgi import middleware

    class Answer:
        def on_get(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
            req.context.project = "p1"
            resp.status = falcon.HTTP_200

    app = falcon.App(middleware=[middleware.AccessLog()], request_type=Request)
    app.add_route("/v2/queues/{queue_name}/stats", Answer())
    client = falcon.testing.TestClient(app)
    assert app_logger == middleware.access_logger.name
    saved = middleware.access_logger
    middleware.access_logger = logger
    try:
        for query in ("", "x=1&y=%20"):
            client.simulate_get("/v2/queues/q1/stats", query_string=query, remote_addr="10.0.0.7")
    finally:
        middleware.access_logger = saved
    return stream.getvalue().splitlines()


def test_text_access_lines_are_what_a_record_would_print(text_logger: TextLogger) -> None:
    logger, handler, stream = text_logger
    assert logs.text_handlers(logger, logging.INFO) == [handler]
    direct = _access_lines(logger, "sqlqueue.access", stream)
    stream.seek(0), stream.truncate()
    handler.addFilter(lambda record: True)  # any filter: the record is made
    assert logs.text_handlers(logger, logging.INFO) is None
    recorded = _access_lines(logger, "sqlqueue.access", stream)

    def same(line: str) -> str:  # the time, the duration and the request id differ
        line = re.sub(r" \d+\.\dms ", " <ms> ", LINE_TIME.sub("", line))
        return REQUEST_ID.sub("<id>", line)

    assert [same(line) for line in direct] == [same(line) for line in recorded]
    assert same(direct[1]) == (
        f'[{os.getpid()}] INFO sqlqueue.test.text: 10.0.0.7 "GET /v2/queues/q1/stats?x=1&y=%20"'
        " 200 <ms> project=p1 request_id=<id>"
    )
    for line in direct:
        stamp = datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").timestamp()
        assert abs(stamp + int(line[20:23]) / 1000 - time.time()) < 5


def test_text_lines_need_a_record_for_anything_but_plain_text_handlers(
    text_logger: TextLogger,
) -> None:
    logger, handler, _ = text_logger
    parent = logging.Logger("sqlqueue.test")
    logger.parent = parent
    assert logs.text_handlers(logger, logging.INFO) == [handler]
    assert logs.text_handlers(logger, logging.DEBUG) == [handler]  # levels are the caller's
    handler.setLevel(logging.WARNING)
    assert logs.text_handlers(logger, logging.INFO) == []  # a handler above: nothing written
    handler.setLevel(logging.NOTSET)
    logger.addFilter(lambda record: True)
    assert logs.text_handlers(logger, logging.INFO) is None
    logger.filters.clear()
    handler.setFormatter(logs.JsonFormatter())
    assert logs.text_handlers(logger, logging.INFO) is None
    handler.setFormatter(logs.TextFormatter())
    keep = _Keep()
    logger.propagate = True  # up to a capturing handler (pytest's caplog is one)
    parent.addHandler(keep)
    try:
        assert logs.text_handlers(logger, logging.INFO) is None
    finally:
        parent.removeHandler(keep)
    logger.removeHandler(handler)
    logger.propagate = False
    assert logs.text_handlers(logger, logging.INFO) is None  # no handler: logging.lastResort's
    logger.addHandler(handler)
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *a, **k: previous(*a, **k))
    try:
        assert logs.text_handlers(logger, logging.INFO) is None
    finally:
        logging.setLogRecordFactory(previous)


def test_text_lines_carry_the_pid_of_a_forked_child(text_logger: TextLogger) -> None:
    logger, handler, _ = text_logger
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        handler.setStream(os.fdopen(write, "w"))
        logs.write_text([handler], logging.INFO, logger.name, "from the child")
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as out:
        line = out.read()
    assert f" [{child}] INFO sqlqueue.test.text: from the child\n" in line
    assert child != os.getpid()


def test_a_failing_text_write_goes_to_handle_error(text_logger: TextLogger) -> None:
    logger, handler, stream = text_logger
    failed: list[logging.LogRecord] = []
    handler.handleError = failed.append  # type: ignore[method-assign]
    stream.close()
    logs.write_text([handler], logging.INFO, logger.name, "lost")
    assert [(r.name, r.levelno, r.getMessage()) for r in failed] == [
        (logger.name, logging.INFO, "lost")
    ]


@pytest.mark.parametrize("number", ["9223372036854775808", "-9223372036854775809", "1" * 40])
def test_integers_beyond_64_bits_are_refused(number: str) -> None:
    from sqlqueue.transport.wsgi import body

    with pytest.raises(errors.ValidationFailed, match="integer that is too large"):
        body.parse(f'{{"messages": [{{"body": {number}}}]}}'.encode())


def test_messages_made_fast_are_the_messages_the_dataclass_makes() -> None:
    import dataclasses

    from sqlqueue.domain.models import Message

    fields = {
        "id": "12",
        "ttl": 300,
        "age": 4,
        "body": {"event": "x", "n": [1, 2]},
        "claim_id": "c0ffee",
        "claim_count": 2,
        "created": 1796025600.5,
        "marker": 7,
        "checksum": "MD5:0123",
    }
    made, slow = Message.made(**fields), Message(**fields)
    assert made == slow and repr(made) == repr(slow)
    plain = {**fields, "body": "x"}  # a dict body has no hash, either way
    assert hash(Message.made(**plain)) == hash(Message(**plain))
    assert vars(made) == vars(slow) == dataclasses.asdict(slow)
    assert dataclasses.replace(made, age=5) == dataclasses.replace(slow, age=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.age = 5  # type: ignore[misc]


@pytest.mark.parametrize("ttl, delay", [(None, None), (300, None), (60, 30)])
def test_posted_messages_are_the_new_messages_the_dataclass_makes(
    ttl: int | None, delay: int | None
) -> None:
    from sqlqueue.domain.models import NewMessage

    posted, slow = NewMessage.posted("x", ttl, delay), NewMessage("x", ttl=ttl, delay=delay)
    assert posted == slow and hash(posted) == hash(slow) and repr(posted) == repr(slow)
    assert vars(posted) == vars(slow)


@pytest.mark.parametrize(
    "stored", ['{"a":1}', "[1,2.5,null]", '"text"', "12", '{"s":"é😀"}', '{"a": 1} ']
)
def test_stored_bodies_load_as_json_loads_reads_them(stored: str) -> None:
    import json

    from sqlqueue.domain.bodies import PLAIN

    assert PLAIN.load(stored) == json.loads(stored)
