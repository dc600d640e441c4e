"""A cProfile summarised by where the own time goes (SQLAlchemy, the driver, sqlqueue...)."""

from __future__ import annotations

import cProfile
import io
import pstats
from typing import Any

AREAS = (
    ("/sqlalchemy/sql/", "SQLAlchemy: statement building, cache keys, compiling"),
    ("/sqlalchemy/pool/", "SQLAlchemy: pool checkout/return"),
    ("/sqlalchemy/event/", "SQLAlchemy: event dispatch"),
    ("/sqlalchemy/", "SQLAlchemy: execution, transactions, results"),
    ("/pymysql/", "pymysql (pure-Python driver)"),
    ("/sqlqueue/", "sqlqueue code"),
    ("/json/", "json"),
)
"""Where a profiled function's own time goes: the first (path part, label) that matches."""
DRIVER_CALLS = ("sqlite3.", "psycopg2.", "socket", "recv_into", "sendall")


def profile_area(filename: str, function: str) -> str:
    """The area (a label of ``AREAS``, or a built-in / other kind) of a profiled function."""
    if filename == "~":  # a built-in: the driver's C code or the wire
        driver = any(part in function for part in DRIVER_CALLS)
        return (
            "driver C calls and waiting on the server"
            if driver
            else "other built-ins (getattr, isinstance...)"
        )
    for part, label in AREAS:
        if part in filename:
            return label
    return "other Python"


def print_profile(title: str, profiler: cProfile.Profile, top: int = 15) -> None:
    """Print own time by area (percent), then the ``top`` functions by own time.

    ``gc.collect`` calls are left out: ``timing.timed`` collects before each timed step.
    """
    stats = pstats.Stats(profiler)
    areas: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for key in [key for key in raw if "gc.collect" in key[2]]:
        del raw[key]
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in raw.items():
        area = profile_area(filename, function)
        areas[area] = areas.get(area, 0.0) + own
    total = sum(areas.values()) or 1.0
    print(f"\n--- cProfile of {title}: own time by area")
    for area, own in sorted(areas.items(), key=lambda item: -item[1]):
        print(f"  {own / total:6.1%}  {area}")
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    print(out.getvalue())
