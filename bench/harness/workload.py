"""The benches' messages and sizes, and the check that nothing was lost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Body = dict[str, Any]

BATCH = 10
"""Messages per post in the ``post x10`` workload; ``--messages`` is a multiple of it."""
CLAIM_LIMIT = 10
CLAIM_TTL = 300
"""Seconds."""
CLAIM_GRACE = 60
"""Seconds."""
MESSAGE_TTL = 3600
"""Seconds."""
PAYLOAD = "x" * 64
OPERATIONS = ("post x1", "post x10", "claim10+delete")
"""The workloads of storage_bench and http_bench, in the order they run and print."""


class BenchError(Exception):
    """A failed request, a failed check or a phase past its deadline."""


def bodies(start: int, count: int) -> list[Body]:
    """``count`` message bodies of about 100 bytes as JSON, ``seq`` from ``start`` up."""
    return [
        {"event": "bench", "seq": seq, "payload": PAYLOAD} for seq in range(start, start + count)
    ]


def warmup_count(messages: int) -> int:
    """Messages per workload in the warm-up round: up to 200, a multiple of ``BATCH``."""
    return max(BATCH, min(messages, 200) // BATCH * BATCH)


def verify(
    side: str,
    posted: Sequence[tuple[str, int]],
    consumed: Sequence[tuple[str, int]],
    total: int,
    left: int,
    *,
    fifo: bool = False,
) -> None:
    """Raise ``BenchError`` unless every posted message was consumed once, with its body.

    ``posted`` and ``consumed`` are (message id, body ``seq``) pairs, in the order they
    were posted and consumed; ``total`` messages were posted (``seq`` 0 to total - 1);
    ``left`` rows remain in the queue (must be 0). With ``fifo`` the consumption order
    must also be the posting order.
    """
    problems = []
    seq_of = dict(posted)
    if len(posted) != total or len(seq_of) != total:
        problems.append(f"{len(seq_of)} distinct ids for {len(posted)} of {total} posted")
    if sorted(seq_of.values()) != list(range(total)):
        problems.append("the posted ids do not cover the posted bodies")
    ids = [message_id for message_id, _seq in consumed]
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} messages consumed more than once")
    if set(ids) != set(seq_of):
        lost, unknown = len(set(seq_of) - set(ids)), len(set(ids) - set(seq_of))
        problems.append(f"{lost} posted messages never consumed, {unknown} unknown consumed")
    wrong = sum(1 for message_id, seq in consumed if seq_of.get(message_id) != seq)
    if wrong:
        problems.append(f"{wrong} consumed bodies differ from the posted ones")
    if fifo and ids != [message_id for message_id, _seq in posted]:
        problems.append("consumed in another order than posted (FIFO broken)")
    if left:
        problems.append(f"{left} messages left in the queue")
    if problems:
        raise BenchError(f"{side}: " + "; ".join(problems))
