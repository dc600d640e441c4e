"""Server CPU per request: ``sqlqueue serve`` against a minimal Falcon + raw-driver app (the floor).

For each backend a fresh database is created and migrated, then two servers
start on it, both under granian with the same workers and threads:

* **sqlqueue**: a real ``sqlqueue serve`` (default settings, access log on);
* **floor**: ``bench/floor_app.py``, a bare Falcon app that runs sqlqueue's
  statements by hand over the raw DB-API driver (``storage_sides.FloorSide``,
  checked statement for statement by ``statement_check.py`` before timing).

``wrk`` (a compiled load generator, with Lua scripts for the bodies and for the
claim-then-delete flows) drives each server in turn for ``--seconds`` per
operation:

1. ``post x1``: ``POST .../messages`` with one message;
2. ``post x10``: the same with ten;
3. ``claim10+delete``: ``POST .../claims?limit=10``, then a ``DELETE`` of each
   claimed message by its href (``?claim_id=``): 11 requests per claim;
4. ``claim10+bulk``: the claim, then one ``DELETE .../messages?ids=...``;
5. ``stats``: ``GET .../stats`` of a queue of 1,000 messages.

Claims run on queues filled beforehand (untimed) with ``--prefill`` messages,
more than a phase consumes (checked after the phase). Server CPU is user +
system time from /proc of the server's processes (master, workers, their
children) plus the database's processes or threads serving that server's
connections (PostgreSQL backends, MariaDB connection threads, matched by
the client's TCP port; SQLite runs in the app).
Each phase's CPU is divided by the requests wrk completed; any non-2xx
answer or socket error stops the bench. The load generator's own CPU per
request is printed too. After a short warm-up of every phase, the sides take
turns (which goes first alternates) for ``--rounds`` rounds; the table gives
each side's median CPU per request, and the ratio as the median of the
rounds' own ratios (each round's two phases run back to back, so a drift of
the machine's speed between rounds cancels out of them) with their range.

Usage::

    python bench/cpu_bench.py [--backends sqlite,postgresql,mysql] [--seconds 5] [--rounds 3]
                              [--workers 2] [--threads 2] [--connections 4] [--prefill 40000]
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from floor_app import running_floor
from harness import cli
from harness.cpu import DatabaseCpu, delta, local_ports, tree, tree_cpu
from harness.databases import Database
from harness.report import environment, markdown
from harness.server import running_server, stop_on_sigterm
from harness.workload import BenchError, bodies
from storage_sides import CLIENT_ID, floor_backend
from wrk_scripts import OPERATIONS, script

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver

PROJECT = "cpubench"
SIDES = ("sqlqueue", "floor")
STATS_DEPTH = 1000
WARMUP_SECONDS = 1


@dataclass
class Sample:
    """One phase: requests wrk completed and CPU seconds (app, database, wrk)."""

    requests: int
    app: float
    db: float
    wrk: float

    def per_request(self) -> float:
        """Server CPU (app + database) microseconds per request."""
        return (self.app + self.db) / self.requests * 1e6


@dataclass
class Samples:
    """Every timed phase of one backend, by (side, operation)."""

    seconds: float
    db_counted: bool
    phases: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def median(self, side: str, op: str, part: str = "server") -> float:
        """Median microseconds per request of ``part``: server, app, db or wrk."""
        values = []
        for s in self.phases[(side, op)]:
            cpu = {"server": s.app + s.db, "app": s.app, "db": s.db, "wrk": s.wrk}[part]
            values.append(cpu / s.requests * 1e6)
        return statistics.median(values)

    def round_ratios(self, op: str) -> list[float]:
        """sqlqueue/floor server CPU per request of each round (the two phases ran back to back)."""
        pairs = zip(self.phases[("sqlqueue", op)], self.phases[("floor", op)], strict=True)
        return [mine.per_request() / floor.per_request() for mine, floor in pairs]

    def rate(self, side: str, op: str) -> float:
        """Median requests per second."""
        return statistics.median(s.requests / self.seconds for s in self.phases[(side, op)])


def run_wrk(url: str, lua: Path, seconds: float, connections: int) -> tuple[int, float]:
    """Run wrk; (requests completed, wrk's CPU seconds). :raises BenchError: on errors."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "-s", str(lua), url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = re.search(r"(\d+) requests in", done.stdout)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", done.stdout)
    if done.returncode or found is None or bad is not None:
        raise BenchError(f"wrk failed on {url}:\n{done.stdout}{done.stderr}")
    return int(found.group(1)), wrk_cpu


def fill(driver: SqlDataDriver, queue: str, count: int) -> None:
    """Create ``queue`` and post ``count`` messages into it, 500 per transaction (untimed)."""
    driver.queues.create(PROJECT, queue)
    for start in range(0, count, 500):
        batch = [NewMessage(b, ttl=3600) for b in bodies(start, min(500, count - start))]
        driver.messages.post(PROJECT, queue, batch, CLIENT_ID)


class Bench:
    """One backend's run: both servers up, phases measured by ``measure``."""

    def __init__(self, db: Database, urls: dict[str, str], args: argparse.Namespace) -> None:
        self.db = db
        self.urls = urls
        self.args = args
        self.driver = SqlDataDriver(db.engine)
        self.dbcpu = DatabaseCpu(db)
        self.scripts = Path(tempfile.mkdtemp(prefix="sqlqueue-cpu-"))
        self.pids: dict[str, int] = {}

    def queue_for(self, side: str, op: str, tag: str) -> str:
        """A fresh queue for one phase, filled as the operation needs (untimed)."""
        name = f"{tag}-{op.replace(' ', '').replace('+', '-')}-{side}"
        if op == "stats":
            name = f"stats-{side}"  # the same 1,000 messages for every round
            if tag == "warmup":
                fill(self.driver, name, STATS_DEPTH)
        elif op.startswith("claim"):
            fill(self.driver, name, self.args.prefill // (4 if tag == "warmup" else 1))
        else:
            self.driver.queues.create(PROJECT, name)
        return name

    def measure(self, side: str, op: str, tag: str, seconds: float) -> Sample:
        """Run one operation against one side for ``seconds``; its requests and CPU."""
        queue = self.queue_for(side, op, tag)
        lua = self.scripts / f"{tag}-{side}-{op.replace(' ', '')}.lua"
        lua.write_text(script(op, queue, PROJECT, CLIENT_ID))
        self.db.settle()
        app0 = tree_cpu(self.pids[side])
        db0 = self.dbcpu.read(local_ports(tree(self.pids[side])))
        try:
            requests, wrk = run_wrk(self.urls[side], lua, seconds, self.args.connections)
        except BenchError as ex:
            raise BenchError(f"{side} {op}: {ex}") from ex
        app1 = tree_cpu(self.pids[side])
        db1 = self.dbcpu.read(local_ports(tree(self.pids[side])))
        if op.startswith("claim") and not self.driver.queues.stats(PROJECT, queue).free:
            raise BenchError(f"{side} {op}: the queue ran empty; raise --prefill")
        return Sample(requests, delta(app0, app1), delta(db0, db1), wrk)

    def rounds(self) -> Samples:
        """The warm-up, then ``--rounds`` rounds of every operation on both sides."""
        results = Samples(self.args.seconds, self.dbcpu.available)
        for op in self.args.operations:
            for side in SIDES:
                self.measure(side, op, "warmup", WARMUP_SECONDS)
        for round_no in range(self.args.rounds):
            for op in self.args.operations:
                order = SIDES if round_no % 2 == 0 else SIDES[::-1]
                for side in order:
                    sample = self.measure(side, op, f"r{round_no}", self.args.seconds)
                    results.phases.setdefault((side, op), []).append(sample)
                line = ", ".join(
                    f"{side} {results.phases[(side, op)][-1].per_request():,.0f}" for side in SIDES
                )
                line += f", ratio {results.round_ratios(op)[-1]:.2f}"
                print(f"  {self.db.backend} round {round_no + 1} {op}: us/request {line}")
        return results


@contextmanager
def both_servers(db: Database, args: argparse.Namespace) -> Iterator[Bench]:
    """sqlqueue serve and the floor app on ``db``, both up; stopped on exit."""
    with (
        tempfile.TemporaryDirectory() as logs,
        floor_backend(db) as backend,
        running_server(
            db.url, args.workers, Path(logs), None, PROJECT, ["--threads", str(args.threads)]
        ) as server,
        running_floor(db.url, args.workers, args.threads, Path(logs)) as floor,
    ):
        from statement_check import check_statements

        print(f"  {db.backend} {check_statements(backend)}")
        bench = Bench(db, {"sqlqueue": server.url, "floor": floor.url}, args)
        bench.pids = {"sqlqueue": server.process.pid, "floor": floor.process.pid}
        try:
            yield bench
        finally:
            shutil.rmtree(bench.scripts, ignore_errors=True)


def print_table(results: dict[str, Samples]) -> None:
    """One markdown table: per backend and operation, CPU per request of both sides."""
    rows: list[tuple[str, ...]] = [
        (
            "backend",
            "operation",
            "sqlqueue us/req (app+db)",
            "floor us/req (app+db)",
            "sqlqueue/floor",
            "rounds: min-max",
            "req/s sqlqueue / floor",
            "wrk us/req",
        )
    ]
    for name, res in results.items():
        for op in [op for op in OPERATIONS if ("floor", op) in res.phases]:
            cells = []
            for side in SIDES:
                app, dbs = res.median(side, op, "app"), res.median(side, op, "db")
                cells.append(f"{res.median(side, op):,.0f} ({app:,.0f}+{dbs:,.0f})")
            ratios = res.round_ratios(op)
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
            rates = f"{res.rate('sqlqueue', op):,.0f} / {res.rate('floor', op):,.0f}"
            wrk = f"{res.median('sqlqueue', op, 'wrk'):,.0f}"
            rows.append((name, op, *cells, f"{statistics.median(ratios):.2f}", spread, rates, wrk))
    print(markdown(rows))
    missing = [name for name, res in results.items() if not res.db_counted and name != "sqlite"]
    if missing:
        print(f"database CPU not counted (server not on this machine): {', '.join(missing)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    cli.add_database_flags(parser, "sqlite,postgresql,mysql", "sqlqueue_cpu_bench")
    parser.add_argument("--seconds", type=int, default=5, help="per phase (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="per server (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="per worker (default 2)")
    parser.add_argument("--connections", type=int, default=4, help="wrk's (default 4)")
    parser.add_argument(
        "--prefill", type=int, default=40000, help="messages per claim queue (default 40000)"
    )
    parser.add_argument(
        "--operations", default=",".join(OPERATIONS), help="of " + ",".join(OPERATIONS)
    )
    args = parser.parse_args()
    args.operations = [op.strip() for op in args.operations.split(",") if op.strip()]
    unknown = set(args.operations) - set(OPERATIONS)
    if unknown:
        parser.error(f"unknown operations: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    stop_on_sigterm()
    print(environment(granian=version("granian"), falcon=version("falcon")), flush=True)

    def bench(db: Database) -> Samples:
        with both_servers(db, args) as runner:
            return runner.rounds()

    return cli.finish(cli.run_backends(args, bench), print_table)


if __name__ == "__main__":
    sys.exit(main())
