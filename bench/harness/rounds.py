"""Best-of-N rounds: a warm-up, then the sides take turns, every phase kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from .timing import Latencies, Phase
from .workload import warmup_count


@dataclass
class Results:
    """Every timed phase of one backend, per (side name, operation name)."""

    phases: dict[tuple[str, str], list[Phase]] = field(default_factory=dict)

    def add(self, side: str, phases: dict[str, Phase]) -> None:
        """Keep one round of ``side``: its phases by operation."""
        for op, phase in phases.items():
            self.phases.setdefault((side, op), []).append(phase)

    def best(self, side: str, op: str) -> float:
        """The best round's messages per second."""
        return max(phase.rate for phase in self.phases[(side, op)])

    def spread(self, side: str, op: str) -> float:
        """(best - worst) / best messages per second over the rounds, as a noise indicator."""
        rates = [phase.rate for phase in self.phases[(side, op)]]
        return (max(rates) - min(rates)) / max(rates)

    def latencies(self, side: str, op: str) -> Latencies:
        """Seconds per call by kind of call, over all rounds."""
        merged: Latencies = {}
        for phase in self.phases[(side, op)]:
            for kind, values in phase.latencies.items():
                merged.setdefault(kind, []).extend(values)
        return merged

    def messages(self, side: str, op: str) -> int:
        """Messages moved over all rounds."""
        return sum(phase.messages for phase in self.phases[(side, op)])

    def cpu_per_message(self, side: str, op: str) -> tuple[float, float]:
        """(this process, server) CPU microseconds per message, over all rounds."""
        phases = self.phases[(side, op)]
        count = self.messages(side, op)
        client = sum(phase.client_cpu for phase in phases)
        server = sum(sum(phase.server_cpu.values()) for phase in phases)
        return client / count * 1e6, server / count * 1e6

    def worker_shares(self, side: str) -> list[float]:
        """Each server pid's share (0 to 1) of the server CPU over ``side``'s phases, by pid."""
        per_pid: dict[int, float] = {}
        for (name, _op), phases in self.phases.items():
            for phase in phases if name == side else []:
                for pid, cpu in phase.server_cpu.items():
                    per_pid[pid] = per_pid.get(pid, 0.0) + cpu
        total = sum(per_pid.values()) or 1.0
        return [cpu / total for _pid, cpu in sorted(per_pid.items())]


class Named(Protocol):
    """A side of a bench: anything with a short ``name`` ("sqlqueue", "floor", "http")."""

    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=Named)
RunRound = Callable[[S, str, int], dict[str, Phase]]
"""One round of one side: (side, fresh queue name, messages per workload) -> phases by op."""


def interleaved_rounds(
    backend: str, sides: Sequence[S], rounds: int, messages: int, run: RunRound[S]
) -> Results:
    """Warm each side up once, then ``rounds`` rounds in which every side runs once.

    The side that goes first alternates between rounds; each run gets a new queue
    (``warmup-<side>``, ``r<round>-<side>``). Prints one line of rates per run.
    """
    for side in sides:
        run(side, f"warmup-{side.name}", warmup_count(messages))
    results = Results()
    width = max(len(side.name) for side in sides)
    for round_no in range(rounds):
        for side in sides if round_no % 2 == 0 else sides[::-1]:
            phases = run(side, f"r{round_no}-{side.name}", messages)
            results.add(side.name, phases)
            rates = ", ".join(f"{op} {phase.rate:,.0f}/s" for op, phase in phases.items())
            print(f"  {backend} round {round_no + 1} {side.name:{width}}: {rates}", flush=True)
    return results
