"""The directory where the worker processes of one server write their metrics.

``prometheus_client`` aggregates several processes (its multiprocess mode)
through memory-mapped files in the directory named by
``PROMETHEUS_MULTIPROC_DIR``. ``sqlqueue serve`` prepares one per run,
before any metric exists and before the workers start: a private temporary
directory, or the configured ``metrics_dir`` emptied of a previous run's
files (stale counters would otherwise be summed in). Under another server
(gunicorn ...) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
yourself.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_METRICS_MODULE = "sqlqueue.observe.metrics"


def directory() -> str | None:
    """The multiprocess directory of this process, if any."""
    return os.environ.get(VARIABLE) or os.environ.get(VARIABLE.lower()) or None


def prepare(configured: str = "") -> tuple[str, bool]:
    """Set up an empty multiprocess directory for this run; (its path, whether it is temporary).

    ``configured`` (``metrics_dir``) is created if missing and emptied of
    ``*.db`` files; empty: a new temporary directory, to remove with
    ``cleanup`` when the server stops.

    :raises RuntimeError: a metric was defined before (its values would not be shared).
    :raises OSError: the directory cannot be created or emptied.
    """
    if _METRICS_MODULE in sys.modules:
        raise RuntimeError("prepare the metrics directory before sqlqueue.observe.metrics loads")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        temporary = False
    else:
        path = Path(tempfile.mkdtemp(prefix="sqlqueue-metrics-"))
        temporary = True
    os.environ[VARIABLE] = str(path)
    return str(path), temporary


def cleanup(path: str, temporary: bool) -> None:
    """Remove a temporary directory made by ``prepare`` (a configured one stays)."""
    if temporary:
        shutil.rmtree(path, ignore_errors=True)


def forget_dead_processes() -> None:
    """Drop the live-gauge files of processes that are gone (a worker that died
    and was replaced): their long-poll waiters no longer wait."""
    path = directory()
    if path is None:
        return
    from prometheus_client import multiprocess

    for found in Path(path).glob("gauge_live*_*.db"):
        pid = int(found.stem.rsplit("_", 1)[1])
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
