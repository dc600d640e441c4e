"""One logging set-up for every sqlqueue process: the CLI, the server and its workers.

Two formats, chosen by ``Settings.log_format``:

* ``text`` (default): ``2026-11-30 08:00:00,123 [4242] INFO sqlqueue.access: ...``
  (for the one-shot commands ``db``, ``pool`` and ``gc``: the message alone,
  warnings and errors only)
* ``json``: one JSON object per line with ``time`` (UTC, ISO 8601), ``level``,
  ``logger``, ``pid`` and ``message``; access lines add ``request_id``,
  ``project``, ``queue``, ``method``, ``path``, ``status``, ``duration_ms`` and
  ``remote``; a logged exception adds ``exception``.

The server's own lines (granian's, logger ``_granian``) go through the same
handler, so a process never mixes formats. Alembic logs at WARNING: its INFO
lines ("Context impl ...") would otherwise repeat in every worker.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from sqlqueue.errors import ValidationFailed

TEXT_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"
TERMINAL_FORMAT = "%(message)s"
"""One-shot commands (``db``, ``pool``, ``gc``) talk to a person: the message only."""
FORMATS = ("text", "json")
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


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON: time, level, logger, pid, message, access fields."""
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        document: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key in ACCESS_FIELDS:
            if key in record.__dict__:
                document[key] = record.__dict__[key]
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


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
    json_lines = check_format(log_format) == "json"
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if json_lines
        else {"format": TERMINAL_FORMAT if terminal else TEXT_FORMAT}
    )
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

    PERF: the caller's file, line and function (a walk up the stack) and
    the thread and process names; the Python logging HOWTO's
    "Optimization" section names these switches. With one access line per
    request they were a tenth of the server's CPU for a ``GET .../stats``
    (bench/cpu_bench.py).
    """
    logging._srcfile = None  # a documented switch, private name and all
    logging.logThreads = False
    logging.logMultiprocessing = False
