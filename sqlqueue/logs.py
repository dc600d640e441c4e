"""One logging set-up for every sqlqueue process: the CLI, the server and its workers.

Two formats, chosen by ``Settings.log_format``:

* ``text`` (default): ``2026-11-30 08:00:00,123 [4242] INFO sqlqueue.access: ...``
  (for the one-shot commands ``db``, ``pool`` and ``gc``: the message alone,
  warnings and errors only)
* ``json``: one JSON object per line with ``time`` (UTC, ISO 8601), ``level``,
  ``logger``, ``pid`` and ``message``; access lines add ``request_id``,
  ``project``, ``queue``, ``method``, ``path``, ``status``, ``duration_ms`` and
  ``remote`` (the record carries them as one attribute, ``access``: see
  ``ACCESS``); a logged exception adds ``exception``.

The server's own lines (granian's, logger ``_granian``) go through the same
handler, so a process never mixes formats. Alembic logs at WARNING: its INFO
lines ("Context impl ...") would otherwise repeat in every worker.
"""

from __future__ import annotations

import json
import logging
import logging.config
import math
import os
import time
from datetime import UTC, datetime
from typing import Any

from sqlqueue.errors import ValidationFailed

_MILLIS = tuple(f"{n:03d}" for n in range(1000))
"""The milliseconds of a time as a text line writes them (``%03d``), by their value."""
TEXT_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"
TERMINAL_FORMAT = "%(message)s"
"""One-shot commands (``db``, ``pool``, ``gc``) talk to a person: the message only."""
FORMATS = ("text", "json")
ACCESS = "access"
"""The record attribute holding an access line's fields: a dict keyed by ``ACCESS_FIELDS``.

PERF: one ``extra`` attribute instead of eight; each costs the logging
module a check and an assignment per record.
"""
ACCESS_FIELDS = (
    "request_id",
    "project",
    "queue",
    "method",
    "path",
    "status",
    "duration_ms",
    "remote",
)
QUIET_LOGGERS = {"alembic": "WARNING"}
SERVER_LOGGER = "_granian"


class TextFormatter(logging.Formatter):
    """The ``text`` lines: the same as ``logging.Formatter(TEXT_FORMAT)``'s, made with less work.

    PERF: the date and time (``2026-11-30 08:00:00``) is formatted once per
    second of ``record.created`` and reused, only the milliseconds (``,518``)
    per record; the line is one f-string instead of ``TEXT_FORMAT % record.__dict__``.
    A record with an exception or a stack goes through the base class.
    """

    default_msec_format: str = "%s,%03d"
    """The base class's, never ``None`` here."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second: tuple[int, str] = (-1, "")
        """The last second formatted (``int(record.created)``) and its text; one
        attribute, replaced whole, so that threads sharing the formatter agree."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (and its traceback or stack, as the base class)."""
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        record.message = message = record.getMessage()
        record.asctime = asctime = self.formatTime(record)
        return f"{asctime} [{record.process:d}] {record.levelname} {record.name}: {message}"

    def line(self, created: float, levelname: str, name: str, message: str) -> str:
        """What ``format`` makes of a record of this process with these fields and no
        traceback: ``created`` in epoch seconds, ``message`` already merged with its
        arguments (``getMessage()``).

        PERF: one f-string of strings: the milliseconds (``LogRecord.msecs``'
        digits) and the process id are looked up as text, since a format
        spec (``:03d``) costs more than the rest of the line.
        """
        second = int(created)
        stamp = self._second
        if stamp[0] != second:
            stamp = self._stamp(second)
        millis = _MILLIS[int((created - second) * 1000)]
        return f"{stamp[1]},{millis} [{_pid_text}] {levelname} {name}: {message}"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """``record.created`` as local time ``%Y-%m-%d %H:%M:%S,mmm`` (``datefmt``: as the base)."""
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        stamp = self._second
        if stamp[0] != second:
            stamp = self._stamp(second)
        return self.default_msec_format % (stamp[1], record.msecs)

    def _stamp(self, second: int) -> tuple[int, str]:
        """Remember ``second`` and its local ``%Y-%m-%d %H:%M:%S`` text."""
        text = time.strftime(self.default_time_format, self.converter(second))
        stamp = self._second = (second, text)
        return stamp


JSON_LINE = json.JSONEncoder(default=str, ensure_ascii=False)
"""``json.dumps(document, default=str, ensure_ascii=False)``, made once.

PERF: ``json.dumps`` with any non-default option builds a new encoder per call.
"""


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (0, utc_seconds(0))
        """As ``TextFormatter``'s: the last second written and its text."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON: time, level, logger, pid, message, access fields."""
        document: dict[str, Any] = {
            "time": self.utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = record.__dict__.get(ACCESS)
        if fields:
            for key in ACCESS_FIELDS:
                if key in fields:
                    document[key] = fields[key]
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return JSON_LINE.encode(document)

    def utc_time(self, created: float) -> str:
        """``created`` (epoch seconds) in UTC to the millisecond: ``2026-11-30T09:03:18.261Z``.

        The text of ``datetime.fromtimestamp(created, tz=UTC)`` written with
        ``isoformat(timespec="milliseconds")`` and ``Z`` for ``+00:00``.
        PERF: that costs 2.5 times as much; here the date and time are
        written once per second, and the microseconds are rounded as
        ``datetime.fromtimestamp`` rounds them (half to even, a fraction
        that rounds to a whole second carrying into the next).
        """
        fraction, whole = math.modf(created)
        second, micros = int(whole), round(fraction * 1e6)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        elif micros < 0:
            second, micros = second - 1, micros + 1_000_000
        stamp = self._second
        if stamp[0] != second:
            stamp = self._second = (second, utc_seconds(second))
        return f"{stamp[1]}.{micros // 1000:03d}Z"


def utc_seconds(second: int) -> str:
    """Epoch ``second`` in UTC, ISO 8601 without offset: ``2026-11-30T09:03:18``."""
    return datetime.fromtimestamp(second, tz=UTC).isoformat(timespec="seconds")[:-6]


def check_format(log_format: str) -> str:
    """``log_format`` if sqlqueue knows it.

    :raises ValidationFailed: neither ``text`` nor ``json``.
    """
    if log_format not in FORMATS:
        raise ValidationFailed(f"log_format must be text or json, not {log_format!r}")
    return log_format


def dict_config(
    level: str = "INFO", log_format: str = "text", *, terminal: bool = False
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document: one stderr handler for every logger.

    ``terminal``: a one-shot command, where text lines are the bare message
    and only warnings and errors are shown.
    """
    formatter: dict[str, Any] = {"()": f"{__name__}.TextFormatter"}
    if check_format(log_format) == "json":
        formatter = {"()": f"{__name__}.JsonFormatter"}
    elif terminal:
        formatter = {"format": TERMINAL_FORMAT}
    if terminal and logging.getLevelName(level.upper()) < logging.WARNING:
        level = "WARNING"
    loggers: dict[str, Any] = {
        name: {"level": quiet, "propagate": True} for name, quiet in QUIET_LOGGERS.items()
    }
    loggers[SERVER_LOGGER] = {"level": level.upper(), "handlers": [], "propagate": True}
    loggers["granian.access"] = {"level": "WARNING", "handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"sqlqueue": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "sqlqueue",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": loggers,
    }


def configure(level: str = "INFO", log_format: str = "text", *, terminal: bool = False) -> None:
    """Install the configuration in this process (idempotent)."""
    logging.config.dictConfig(dict_config(level, log_format, terminal=terminal))
    lean_records()


def lean_records() -> None:
    """Stop every log record from looking up what neither format prints.

    PERF: the caller's file, line and function (a walk up the stack), the
    thread and process names and (Python 3.12+) the asyncio task name; the
    Python logging HOWTO's
    "Optimization" section names these switches. With one access line per
    request they were a tenth of the server's CPU for a ``GET .../stats``
    (bench/cpu_bench.py).
    """
    logging._srcfile = None  # a documented switch, private name and all
    logging.logThreads = False
    logging.logMultiprocessing = False
    setattr(logging, "logAsyncioTasks", False)  # noqa: B010 (Python 3.12 and later; unused before)


_pid = os.getpid()
"""This process's id, as ``os.getpid()`` returns it: read again in a forked child.

PERF: ``os.getpid()`` is a system call in every call (glibc caches nothing).
"""
_pid_text = str(_pid)


def _forked() -> None:
    global _pid, _pid_text
    _pid = os.getpid()
    _pid_text = str(_pid)


os.register_at_fork(after_in_child=_forked)


_TEMPLATES: dict[tuple[str, int], dict[str, Any]] = {}
"""By (logger name, level): the attributes ``emit``'s records start from."""
_new_record = object.__new__


def is_lean() -> bool:
    """Whether records are made as ``lean_records`` has them made, by ``logging.LogRecord``."""
    return (
        logging._srcfile is None
        and not logging.logThreads
        and not logging.logMultiprocessing
        and not getattr(logging, "logAsyncioTasks", False)
        and logging.getLogRecordFactory() is logging.LogRecord
    )


def emit(
    logger: logging.Logger, level: int, msg: str, args: tuple[Any, ...], extra: dict[str, Any]
) -> None:
    """``logger.log(level, msg, *args, extra=extra)``, for a ``logger`` known to be enabled
    for ``level``: the same record, handled the same way (filters, handlers, propagation).

    PERF: while ``is_lean()``, the record is a copy of a template that
    ``Logger.makeRecord`` made once per (logger, level), given its own
    message, arguments, ``extra``, time and process id, as
    ``LogRecord.__init__`` computes them (Python 3.11's ``msecs``): a quarter
    of the instructions of ``Logger.info`` for an access line (valgrind).
    Otherwise (a record factory installed, callers' files looked up, ...) it
    is ``Logger.log`` itself. ``extra`` must not name a ``LogRecord``
    attribute (``Logger.makeRecord`` refuses that with a ``KeyError``; here
    it would be overwritten).
    """
    if not is_lean():
        logger.log(level, msg, *args, extra=extra)
        return
    template = _TEMPLATES.get((logger.name, level)) or _template(logger, level)
    created = time.time()
    record = _new_record(logging.LogRecord)
    fields = record.__dict__
    fields.update(template)
    fields.update(extra)
    fields["msg"] = msg
    fields["args"] = args
    fields["created"] = created
    fields["msecs"] = int((created - int(created)) * 1000) + 0.0
    fields["relativeCreated"] = (created - logging._startTime) * 1000  # type: ignore[attr-defined]
    fields["process"] = _pid
    logger.handle(record)


def _template(logger: logging.Logger, level: int) -> dict[str, Any]:
    """The attributes ``Logger.makeRecord`` gives a record of ``logger`` at ``level``
    when no caller is looked up (``lean_records``)."""
    made = logger.makeRecord(
        logger.name, level, "(unknown file)", 0, "", (), None, "(unknown function)"
    )
    template = _TEMPLATES[(logger.name, level)] = dict(made.__dict__)
    return template


TextHandler = logging.StreamHandler[Any]
"""A handler ``text_handlers`` can write to directly (exactly ``logging.StreamHandler``)."""


def text_handlers(logger: logging.Logger, level: int) -> list[TextHandler] | None:
    """The handlers a record of ``logger`` at ``level`` would be written by, when its
    line can be written without a record; ``None`` when it needs one.

    A record is not needed when records are made as ``lean_records`` has them
    made (``is_lean()``, process ids on), ``logger`` has no filters, and every
    handler on its way up (``Logger.callHandlers``' walk) is a plain
    ``logging.StreamHandler`` without filters formatting with ``TextFormatter``:
    ``serve``'s configuration, where such a handler's output is exactly
    ``TextFormatter.line``. Anything else (a test's capturing handler, a
    filter, the JSON format, no handler at all: ``logging.lastResort``)
    answers ``None``, and the caller makes the record (``emit``).
    """
    if logger.filters or logger.disabled or not logging.logProcesses or not is_lean():
        return None
    found: list[TextHandler] = []
    seen = 0
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if (
                type(handler) is not logging.StreamHandler
                or handler.filters
                or type(handler.formatter) is not TextFormatter
            ):
                return None
            seen += 1
            if level >= handler.level:
                found.append(handler)
        current = current.parent if current.propagate else None
    return found if seen else None


def write_text(handlers: list[TextHandler], level: int, name: str, message: str) -> None:
    """Write one line, as ``TextFormatter`` formats a record of logger ``name`` at
    ``level`` with ``message`` (arguments merged), to each of ``handlers``
    (``text_handlers``' answer), as ``StreamHandler.emit`` writes it: under the
    handler's lock, then flushed; a failing write goes to ``handleError``.

    PERF: no ``LogRecord``, no ``Logger.handle`` walk, no ``Formatter.format``:
    with ``text_handlers``, about 19k instructions for an access line against
    ``emit``'s 44k (valgrind).
    """
    created = time.time()
    levelname = logging.getLevelName(level)
    for handler in handlers:
        formatter: TextFormatter = handler.formatter  # type: ignore[assignment]
        handler.acquire()
        try:
            stream = handler.stream  # PERF: flushed here, not by handler.flush's second lock
            stream.write(formatter.line(created, levelname, name, message) + handler.terminator)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            handler.handleError(
                logging.makeLogRecord({"name": name, "levelno": level, "msg": message})
            )
        finally:
            handler.release()
