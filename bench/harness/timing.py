"""Timed phases: one workload of one side, its seconds, messages, latencies and CPU."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ParamSpec, Protocol, TypeVar

from .workload import BenchError

T = TypeVar("T")
P = ParamSpec("P")
Latencies = dict[str, list[float]]
"""Seconds per call, by kind of call (``"post"``, ``"claim"``, ``"delete"``...)."""


@dataclass
class Phase:
    """One timed workload of one side.

    ``seconds`` wall clock; ``messages`` moved; ``latencies`` per call, in seconds;
    ``client_cpu`` CPU seconds of this process; ``server_cpu`` CPU seconds per server pid.
    """

    seconds: float
    messages: int
    latencies: Latencies = field(default_factory=dict)
    client_cpu: float = 0.0
    server_cpu: dict[int, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds


def timed(step: Callable[[], T]) -> tuple[float, T]:
    """Collect garbage (untimed), then run ``step``: (seconds it took, its result)."""
    gc.collect()
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def timed_call(
    latencies: Latencies, kind: str, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``call(*args, **kwargs)``, appending its seconds to ``latencies[kind]``."""
    started = time.perf_counter()
    result = call(*args, **kwargs)
    latencies.setdefault(kind, []).append(time.perf_counter() - started)
    return result


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``values`` not empty; ``pct`` from 0 to 100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def check_deadline(deadline: float) -> None:
    """Raise ``BenchError`` once ``time.monotonic()`` is past ``deadline``."""
    if time.monotonic() > deadline:
        raise BenchError("the phase ran past --phase-timeout")


class Client(Protocol):
    """What a thread of ``run_threads`` holds: anything it can close at the end."""

    def close(self) -> None:
        """Release the client's resources."""


C = TypeVar("C", bound=Client)
Work = Callable[[C, int, Latencies, float], list[T]]
"""What one thread runs: (client, thread index, its latencies, deadline) -> its results."""


def run_threads(
    name: str,
    clients: int,
    messages: int,
    make_client: Callable[[], C],
    work: Work[C, T],
    timeout: float,
    server_cpu: Callable[[], dict[int, float]] | None = None,
) -> tuple[Phase, list[T]]:
    """Run ``work`` on ``clients`` threads released together; time until all are done.

    Each thread makes its client before the clock starts (untimed: connecting) and
    closes it after. ``messages`` is what the phase moves (for ``Phase.rate``);
    ``timeout`` seconds is the deadline handed to ``work``; ``server_cpu`` gives CPU
    seconds per server pid (read before and after). Returns the phase and every
    thread's results, thread 0's first. The first error in a thread stops the others
    at the start line and is raised as ``BenchError``.
    """
    barrier = threading.Barrier(clients + 1)
    results: list[list[T]] = [[] for _ in range(clients)]
    latencies: list[Latencies] = [{} for _ in range(clients)]
    errors: list[BaseException] = []
    deadline = time.monotonic() + timeout

    def thread_main(index: int) -> None:
        client: C | None = None
        try:
            client = make_client()
            barrier.wait()
            results[index] = work(client, index, latencies[index], deadline)
        except threading.BrokenBarrierError:
            pass
        except BaseException as ex:
            errors.append(ex)
            barrier.abort()
        finally:
            if client is not None:
                client.close()

    threads = [
        threading.Thread(target=thread_main, args=(i,), name=f"{name}-{i}", daemon=True)
        for i in range(clients)
    ]
    server_before = server_cpu() if server_cpu else {}
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_before
    server_after = server_cpu() if server_cpu else {}
    if errors:
        raise BenchError(f"{name}: {errors[0]}") from errors[0]
    merged: Latencies = {}
    for per_thread in latencies:
        for kind, values in per_thread.items():
            merged.setdefault(kind, []).extend(values)
    used = {pid: cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items()}
    phase = Phase(seconds, messages, merged, client_cpu, used)
    return phase, [item for chunk in results for item in chunk]
