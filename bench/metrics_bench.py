"""What the per-request metrics cost: the Falcon app with and without ``RequestMetrics``.

Both sides call the same WSGI app in this process with the same prepared
request, ``GET /v2/`` (the home document: routing, middleware, no storage),
so the difference is the middleware's own CPU, not the database's. The
**floor** is the app built with the metrics middleware replaced by an empty
one; **metrics** is the app as served. Each side runs ``--requests`` calls
per round; sides alternate for ``--rounds`` rounds and the best round of each
is kept. Times are this thread's CPU time (``time.thread_time``), so time
spent waiting for a core on a busy machine is not counted.

``--multiprocess`` repeats the run in a child process with
``PROMETHEUS_MULTIPROC_DIR`` set, as under ``sqlqueue serve`` (values go to
memory-mapped files).

Usage::

    python bench/metrics_bench.py [--requests N] [--rounds R] [--multiprocess]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any


class _NoMetrics:
    """The floor: a middleware that does nothing."""

    def __init__(self, routes: Any) -> None:
        pass

    def process_response(self, req: Any, resp: Any, resource: Any, req_succeeded: bool) -> None:
        """Nothing (Falcon needs one method)."""


def _app(with_metrics: bool) -> Callable[..., Any]:
    from falcon import testing

    from sqlqueue import bootstrap
    from sqlqueue.config import Settings
    from sqlqueue.storage.sql.driver import SqlDataDriver
    from sqlqueue.transport.wsgi import app as app_module

    settings = Settings(database_url="sqlite://", signed_url_secret="bench", admin_mode=True)
    original = app_module.metrics.RequestMetrics
    if not with_metrics:
        app_module.metrics.RequestMetrics = _NoMetrics  # type: ignore[assignment,misc]
    try:
        app = bootstrap.create_app(settings, driver=SqlDataDriver.from_url("sqlite://"))
    finally:
        app_module.metrics.RequestMetrics = original  # type: ignore[misc]
    environ = testing.create_environ("/v2/", headers={"Client-ID": "c" * 32, "X-Project-Id": "p"})

    def call() -> None:
        for _ in app(dict(environ), lambda status, headers, exc_info=None: None):
            pass

    return call


def _round(call: Callable[[], None], requests: int) -> float:
    """CPU µs per request of this thread (a loaded machine's waits are not counted)."""
    started = time.thread_time()
    for _ in range(requests):
        call()
    return (time.thread_time() - started) / requests * 1e6


def measure(requests: int, rounds: int) -> dict[str, float]:
    """Best µs per request of each side."""
    sides = {"floor": _app(False), "metrics": _app(True)}
    for call in sides.values():
        _round(call, requests // 10)  # warm up
    best = dict.fromkeys(sides, float("inf"))
    for n in range(rounds):
        order = list(sides) if n % 2 == 0 else list(reversed(sides))
        for name in order:
            best[name] = min(best[name], _round(sides[name], requests))
    return best


def report(label: str, best: dict[str, float]) -> None:
    extra = best["metrics"] - best["floor"]
    print(
        f"{label:<14} floor {best['floor']:7.1f} CPU µs/req   metrics {best['metrics']:7.1f}"
        f"   +{extra:5.1f} µs   ratio {best['metrics'] / best['floor']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--multiprocess", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report("multiprocess", measure(args.requests, args.rounds))
        return
    report("one process", measure(args.requests, args.rounds))
    if args.multiprocess:
        with tempfile.TemporaryDirectory() as directory:
            env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
            child = [sys.executable, __file__, "--child", "--requests", str(args.requests)]
            subprocess.run([*child, "--rounds", str(args.rounds)], env=env, check=True)


if __name__ == "__main__":
    main()
