"""What the benches print: markdown tables, ratios, latencies, noise, the environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .rounds import Results
from .timing import percentile
from .workload import OPERATIONS

NOISY = 0.15
"""Spread between rounds above which a (backend, operation, side) is named as noisy."""


def markdown(rows: Sequence[Sequence[str]]) -> str:
    """A markdown table, columns padded to their widest cell; ``rows[0]`` is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def ratio_cells(results: Results, ours: str, floor: str, op: str) -> tuple[str, str, str]:
    """Best msg/s of side ``ours``, of side ``floor``, and their ratio, formatted."""
    mine, base = results.best(ours, op), results.best(floor, op)
    return f"{mine:,.0f}", f"{base:,.0f}", f"{mine / base:.2f}"


def ms(values: Sequence[float], pct: float) -> str:
    """The ``pct`` percentile of ``values`` (seconds) in milliseconds, one decimal."""
    return f"{percentile(values, pct) * 1000:.1f}"


def environment(**versions: str) -> str:
    """``python 3.11.7, <name> <version>, ..., 2 cpus`` for a bench's first line."""
    parts = [f"python {sys.version.split()[0]}"]
    parts += [f"{name} {value}" for name, value in versions.items()]
    return ", ".join([*parts, f"{os.cpu_count()} cpus"])


def print_spread(
    results: dict[str, Results], sides: Sequence[str], ops: Sequence[str] = OPERATIONS
) -> None:
    """Name every backend/operation/side whose rounds spread by more than ``NOISY``."""
    noisy = [
        f"{name}/{op}/{side} {res.spread(side, op):.0%}"
        for name, res in results.items()
        for op in ops
        for side in sides
        if res.spread(side, op) > NOISY
    ]
    if noisy:
        print("spread between rounds above 15%: " + ", ".join(noisy))
