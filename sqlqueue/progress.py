"""Progress of long command-line work: a bar on a terminal, quiet elsewhere.

``sqlqueue db upgrade`` (the catalogue and every pool) and ``sqlqueue gc``
report as they go, on stderr:

* on a terminal, a ``rich`` progress bar with the count done, the total,
  the rate and the time left;
* elsewhere (a pipe, a log file, cron) nothing, unless ``--progress`` asks
  for a plain line every ``LINE_INTERVAL`` seconds with the same figures,
  and one when the work ends;
* ``--quiet`` shows nothing, even on a terminal.

The command then prints its one summary line on stdout as before.

Ctrl-C does not cut a unit of work (a batch of deleted rows, one database's
migration) in the middle: the first one asks the work to stop at the next
unit boundary (``Interrupt.check`` raises ``Interrupted`` there), and the
command says what was done; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

BAR, LINES, OFF = "bar", "lines", "off"
LINE_INTERVAL = 2.0
"""Seconds between two plain progress lines."""


def choose_mode(stream: TextIO, *, quiet: bool = False, lines: bool = False) -> str:
    """``bar`` on a terminal, ``lines`` when asked (``--progress``), else ``off``."""
    if quiet:
        return OFF
    if stream.isatty():
        return BAR
    return LINES if lines else OFF


class _Rate(ProgressColumn):
    """Units per second, e.g. ``5,120 rows/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = "?" if speed is None else f"{speed:,.0f}"
        return Text(f"{shown} {self._unit}/s", style="progress.data.speed")


class Tracker:
    """Counts one long task and shows it (``mode``: ``bar``, ``lines`` or ``off``).

    Args:
        what: what is being done, e.g. ``"gc"``.
        unit: what is counted, plural, e.g. ``"rows"``.
        total: how many units the task has, if known (for the ETA).
        mode: from ``choose_mode``.
        stream: where the progress goes (stderr).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        what: str,
        unit: str,
        total: int | None,
        mode: str,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.unit, self.total, self.mode = what, unit, total, mode
        self.done = 0
        self._stream = stream or sys.stderr
        self._clock = clock
        self._started = self._last_line = clock()
        self._bar: Progress | None = None
        self._task: Any = None

    @property
    def elapsed(self) -> float:
        """Seconds since the tracker was made."""
        return self._clock() - self._started

    @property
    def rate(self) -> float:
        """Units per second so far."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    def __enter__(self) -> Tracker:
        if self.mode == BAR:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                _Rate(self.unit),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
            )
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.mode == LINES:  # where it ended, even between two periodic lines
            self._write(self.line())

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def advance(self, count: int = 1, *, note: str | None = None) -> None:
        """``count`` more units done; ``note`` names what is being worked on now."""
        self.done += count
        if self._bar is not None:
            description = f"{self.what} {note}" if note else self.what
            self._bar.update(self._task, advance=count, description=description)
        elif self.mode == LINES and self._clock() - self._last_line >= LINE_INTERVAL:
            self._last_line = self._clock()
            self._write(self.line(note))

    def line(self, note: str | None = None) -> str:
        """The plain progress line: ``gc: 1200/5000 rows (24%), 600 rows/s, 6 s left``."""
        rate = self.rate
        parts = [f"{self.what}: {self.done}"]
        if self.total:
            parts[0] += f"/{self.total} {self.unit} ({100 * self.done // self.total}%)"
        else:
            parts[0] += f" {self.unit}"
        parts.append(f"{rate:,.0f} {self.unit}/s")
        if self.total and rate > 0:
            parts.append(f"{max(0.0, (self.total - self.done) / rate):.0f} s left")
        if note:
            parts.append(note)
        return ", ".join(parts)


class Interrupted(Exception):
    """The user pressed Ctrl-C; the work stopped at a unit boundary."""


class Interrupt:
    """Whether Ctrl-C was pressed while ``deferred`` was active."""

    def __init__(self) -> None:
        self.requested = False

    def check(self) -> None:
        """Stop here if Ctrl-C was pressed. :raises Interrupted:"""
        if self.requested:
            raise Interrupted


@contextmanager
def deferred(notice: str, stream: TextIO | None = None) -> Iterator[Interrupt]:
    """Turn the first Ctrl-C (SIGINT) into a request to stop at the next ``check``.

    ``notice`` is printed when it is pressed (say what will finish first); a
    second Ctrl-C raises KeyboardInterrupt at once. Outside the main thread
    (no signal handling there) Ctrl-C keeps its usual effect.
    """
    interrupt = Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    out = stream or sys.stderr

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if interrupt.requested:
            raise KeyboardInterrupt
        interrupt.requested = True
        out.write(f"\nsqlqueue: {notice} (Ctrl-C again to stop at once)\n")
        out.flush()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)
