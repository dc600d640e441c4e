"""Wire round trips per transaction, sqlqueue beside the floor, counted with strace.

Runs ``REPEAT`` transactions of each kind (post x1, post x10, claim of 10,
delete of one claimed message) through both sides of the storage bench
(``storage_sides.py``) on the server backends, under ``strace``, and counts the
``sendto``/``sendmsg`` calls the process makes between markers written to ``/dev/null``. Every
request to the server is one send followed by a wait for its reply, so sends
per transaction are round trips per transaction (BEGIN and COMMIT included).

Usage (needs ``strace``)::

    python bench/round_trips.py [--backends postgresql,mysql]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from harness.cli import add_database_flags, backend_names, server_urls
from harness.workload import BATCH, CLAIM_LIMIT, bodies
from storage_sides import PROJECT, Side, open_backend

from sqlqueue.storage.sql.driver import SqlDataDriver

REPEAT = 20
OPERATIONS = ("post x1", "post x10", "claim", "delete")
MARK = "@@rt "
SENDS = re.compile(r"\b(sendto|sendmsg)\(")


def _run_ops(side: Side, queue: str, mark: Callable[[str], None]) -> None:
    """REPEAT transactions of each kind, each kind between two markers."""
    mark(f"post x1 {side.name}")
    for seq in range(REPEAT):
        side.post(queue, bodies(seq, 1))
    mark(f"post x10 {side.name}")
    for seq in range(REPEAT):
        side.post(queue, bodies(REPEAT + seq * BATCH, BATCH))
    mark(f"claim {side.name}")
    held: list[tuple[str, str]] = []
    for _ in range(REPEAT):
        claim_id, found = side.claim(queue, CLAIM_LIMIT)
        assert claim_id is not None and len(found) == CLAIM_LIMIT
        held.append((found[0][0], claim_id))
    mark(f"delete {side.name}")
    for message_id, claim_id in held:
        side.delete(queue, message_id, claim_id)
    mark("end")


def child(backends: Sequence[str], urls: dict[str, str], db_name: str) -> None:
    """The traced process: markers on /dev/null around each kind of transaction."""
    sink = os.open(os.devnull, os.O_WRONLY)

    for name in backends:

        def mark(label: str, name: str = name) -> None:
            os.write(sink, f"{MARK}{name} {label}\n".encode())

        with open_backend(name, urls, db_name) as backend:
            for side in backend.sides():
                queue = f"rt-{side.name}"
                SqlDataDriver(backend.engine).queues.create(PROJECT, queue)
                side.post(queue, bodies(0, 1))  # warm: pool, prepared caches
                side.claim(queue, 1)
                _run_ops(side, queue, mark)


def count(trace: str) -> dict[tuple[str, str, str], int]:
    """Sends between markers: (backend, operation, side) -> sends."""
    sends: dict[tuple[str, str, str], int] = {}
    current: tuple[str, str, str] | None = None
    for line in trace.splitlines():
        at = line.find(MARK)
        if at >= 0:
            label = line[at + len(MARK) :].split("\\n", 1)[0].split()
            backend, words = label[0], label[1:]
            current = None if words == ["end"] else (backend, " ".join(words[:-1]), words[-1])
            if current is not None:
                sends[current] = 0
        elif current is not None and SENDS.search(line):
            sends[current] += 1
    return sends


def print_table(sends: dict[tuple[str, str, str], int], backends: Sequence[str]) -> None:
    cols = [(b, s) for b in backends for s in ("floor", "sqlqueue")]
    print("| transaction | " + " | ".join(f"{b} {s}" for b, s in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for op in OPERATIONS:
        cells = [f"{sends.get((b, op, s), 0) / REPEAT:g}" for b, s in cols]
        print(f"| {op} | " + " | ".join(cells) + " |")
    per_message: list[str] = []
    for b, s in cols:
        claim, delete = sends.get((b, "claim", s), 0), sends.get((b, "delete", s), 0)
        per_message.append(f"{(claim / CLAIM_LIMIT + delete) / REPEAT:.1f}")
    print("| per consumed message | " + " | ".join(per_message) + " |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_flags(parser, "postgresql,mysql", "sqlqueue_bench_rt")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    backends = backend_names(args)
    if args.child:
        child(backends, server_urls(args), args.db_name)
        return 0
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        command: list[Any] = ["strace", "-f", "-qq", "-s", "64", "-o", out.name]
        command += ["-e", "trace=sendto,sendmsg,write", sys.executable, __file__, "--child"]
        command += [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "child"]
        subprocess.run(command, check=True)
        print_table(count(out.read()), backends)
    return 0


if __name__ == "__main__":
    sys.exit(main())
