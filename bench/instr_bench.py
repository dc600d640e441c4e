"""Instructions per request: sqlqueue's WSGI app against the floor app, counted by valgrind.

A deterministic complement to ``cpu_bench.py``: instead of CPU seconds under
load, it counts the CPU instructions the app's process executes per request,
which do not depend on the machine's load, the clock or the other processes.
Both sides are called in-process with raw WSGI environs (no server, no
network), built by ``sqlqueue.rsgi.build_environ`` as ``sqlqueue serve``'s
front builds them, with the headers wrk sends:

* **sqlqueue**: ``bootstrap.create_app`` with default settings, logging set up
  as ``serve`` sets it up (access log on, to a file) and the metrics in a
  multiprocess directory as under ``serve``;
* **floor**: ``floor_app.create_app``, a bare Falcon app running sqlqueue's
  statements by hand over the raw driver (``storage_sides.FloorSide``,
  held to sqlqueue's statements by ``statement_check.py`` first).

The operations are ``cpu_bench.py``'s: ``post x1``, ``post x10``,
``claim10+delete`` (a claim of 10, then 10 deletes by href: 11 requests),
``claim10+bulk`` (the claim, then one ``DELETE ...?ids=``: 2 requests) and
``stats`` (a queue of 1,000 messages). With ``--storage`` the same operations
are also counted one layer down, without HTTP: sqlqueue's store (the calls
the resources make) against ``FloorSide``, one store call per request.

Each measurement is a child process ``valgrind --tool=cachegrind
--cache-sim=no python bench/instr_bench.py child ...`` that builds its side,
then runs the operation on a queue of its own (created and filled by the
parent, uncounted). Every (side, operation) runs twice, for about ``N1`` and
``N2`` requests (``--requests``, whole cycles); instructions per request are
``(I(N2) - I(N1)) / (requests2 - requests1)``, so the interpreter's start-up,
the imports, building the app and the first ``N1`` requests (the warm-up)
cancel out. The children run ``PYTHONHASHSEED=0``; runs repeat within about
1%. Only the app's process is counted: a server database's own work is not
(SQLite runs in the process and is counted), so the ratio is the app layer's
alone, higher than ``cpu_bench.py``'s, which adds the database to both sides.
The instructions of building each environ and reading each answer are in both
sides' counts: a third HTTP side, ``harness``, counts them against a WSGI app
with canned answers (``CannedApp``), and the table also gives the ratio with
them taken off both sides.

Needs valgrind (``apt-get install valgrind``). Each child takes 15-60 s (valgrind
runs Python some 50 times slower); ``--jobs`` children run at once.

Usage::

    python bench/instr_bench.py [--backends postgresql,sqlite,mysql] [--storage]
                                [--requests 100,300] [--jobs 2] [--operations ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

from harness import cli
from harness.databases import Database
from harness.report import environment, markdown
from harness.workload import CLAIM_GRACE, CLAIM_LIMIT, CLAIM_TTL, MESSAGE_TTL, BenchError, bodies
from storage_sides import CLIENT_ID, FloorSide, floor_backend
from wrk_scripts import OPERATIONS

from sqlqueue.domain.models import NewMessage
from sqlqueue.rsgi import build_environ
from sqlqueue.storage.sql.driver import SqlDataDriver

PROJECT = "instrbench"
SIDES = ("sqlqueue", "floor")
HARNESS = "harness"
"""A third side at the HTTP layer: a WSGI app with canned answers, the harness's own cost."""
LAYERS = ("http", "storage")
"""``http``: the WSGI apps; ``storage``: sqlqueue's store against ``FloorSide``."""
STATS_DEPTH = 1000
REQUESTS_PER_CYCLE = {
    "post x1": 1,
    "post x10": 1,
    "claim10+delete": 1 + CLAIM_LIMIT,
    "claim10+bulk": 2,
    "stats": 1,
}
POST_SIZES = {"post x1": 1, "post x10": 10}
VALGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


# --------------------------------------------------------------------- the child


@dataclass
class Claim:
    """A claim's id and its messages: ids, and how to delete each (an href or the id)."""

    id: str
    message_ids: list[str]
    handles: list[str]


class Client(Protocol):
    """One side at one layer, on one queue: the calls the operations are made of."""

    def post(self, count: int) -> None:
        """Post ``count`` messages of about 100 bytes in one request."""

    def claim(self) -> Claim:
        """Claim up to ``CLAIM_LIMIT`` messages for ``CLAIM_TTL`` seconds."""

    def delete(self, claim: Claim, index: int) -> None:
        """Delete the claim's message number ``index``, with the claim id."""

    def bulk_delete(self, claim: Claim) -> None:
        """Delete every message of the claim in one request."""

    def stats(self) -> None:
        """Read the queue's stats."""


@dataclass
class Scope:
    """The part of an RSGI scope that ``build_environ`` reads (header names in lower case)."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    http_version: str = "1.1"
    server: str = "127.0.0.1:8888"
    client: str = "127.0.0.1:40000"
    scheme: str = "http"


def _post_body(count: int) -> bytes:
    """The JSON body of ``cpu_bench.py``'s posts of ``count`` messages."""
    doc = {"messages": [{"body": b, "ttl": MESSAGE_TTL} for b in bodies(0, count)]}
    return json.dumps(doc).encode()


class HttpClient:
    """Zaqar v2 requests to a WSGI app in-process, with the environs sqlqueue's front builds."""

    def __init__(self, app: Callable[..., Any], queue: str) -> None:
        self.app = app
        self.base = f"/v2/queues/{queue}"
        self.headers = {
            "host": "127.0.0.1:8888",
            "client-id": CLIENT_ID,
            "x-project-id": PROJECT,
            "content-type": "application/json",
        }
        self.posts = {count: _post_body(count) for count in POST_SIZES.values()}
        self.lease = json.dumps({"ttl": CLAIM_TTL, "grace": CLAIM_GRACE}).encode()
        self.status = ""

    def _start(self, status: str, headers: Any, exc_info: Any = None) -> None:
        self.status = status

    def call(self, method: str, path: str, query: str, body: bytes, expect: str) -> bytes:
        """One request; its answer's body. :raises BenchError: another status than ``expect``."""
        headers = self.headers
        if body:
            headers = {**headers, "content-length": str(len(body))}
        result = self.app(build_environ(Scope(method, path, query, headers), body), self._start)
        try:
            answer = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        if not self.status.startswith(expect):
            raise BenchError(f"{method} {path}?{query}: {self.status} {answer[:300]!r}")
        return answer

    def post(self, count: int) -> None:
        self.call("POST", f"{self.base}/messages", "", self.posts[count], "201")

    def claim(self) -> Claim:
        answer = self.call("POST", f"{self.base}/claims", f"limit={CLAIM_LIMIT}", self.lease, "201")
        messages = json.loads(answer)["messages"]
        hrefs = [m["href"] for m in messages]
        claim_id = hrefs[0].rsplit("claim_id=", 1)[1]
        return Claim(claim_id, [m["id"] for m in messages], hrefs)

    def delete(self, claim: Claim, index: int) -> None:
        path, _, query = claim.handles[index].partition("?")
        self.call("DELETE", path, query, b"", "204")

    def bulk_delete(self, claim: Claim) -> None:
        query = f"ids={','.join(claim.message_ids)}&claim_ids={claim.id}"
        self.call("DELETE", f"{self.base}/messages", query, b"", "204")

    def stats(self) -> None:
        self.call("GET", f"{self.base}/stats", "", b"", "200")


class StoreClient:
    """The storage calls sqlqueue's resources make, on the store ``create_app`` would build."""

    def __init__(self, url: str, queue: str) -> None:
        from sqlqueue import bootstrap
        from sqlqueue.config import Settings

        settings = Settings(database_url=url)
        self.store = bootstrap.create_storage(settings).store
        self.queue = queue
        self.with_claim = settings.limits.message_delete_with_claim_id
        self.posts = {count: self._batch(count) for count in POST_SIZES.values()}

    @staticmethod
    def _batch(count: int) -> tuple[list[NewMessage], int]:
        return [NewMessage(b, ttl=MESSAGE_TTL) for b in bodies(0, count)], len(_post_body(count))

    def post(self, count: int) -> None:
        batch, size = self.posts[count]  # size: the HTTP body's bytes, as the resource passes
        where = self.store.placing(PROJECT, self.queue)
        where.messages.post(PROJECT, self.queue, batch, CLIENT_ID, size=size)

    def claim(self) -> Claim:
        claim_id, found = self.store.at(PROJECT, self.queue).claims.create(
            PROJECT, self.queue, ttl=CLAIM_TTL, grace=CLAIM_GRACE, limit=CLAIM_LIMIT
        )
        if claim_id is None:
            raise BenchError("storage: nothing claimed")
        ids = [m.id for m in found]
        return Claim(claim_id, ids, ids)

    def delete(self, claim: Claim, index: int) -> None:
        from sqlqueue.storage import operations

        operations.delete_message(self.store, PROJECT, self.queue, claim.handles[index], claim.id)

    def bulk_delete(self, claim: Claim) -> None:
        claim_ids = [claim.id] if self.with_claim else None
        where = self.store.at(PROJECT, self.queue)
        where.messages.bulk_delete(PROJECT, self.queue, claim.message_ids, claim_ids)

    def stats(self) -> None:
        self.store.at(PROJECT, self.queue).queues.stats(PROJECT, self.queue)


class FloorClient:
    """``FloorSide``'s calls, the SQL under the floor app's resources."""

    def __init__(self, url: str, queue: str) -> None:
        from sqlalchemy.engine import make_url
        from storage_sides import _server_raw, _sqlite_raw

        parsed = make_url(url)
        backend = parsed.get_backend_name()
        raw = (
            _sqlite_raw(parsed.database or "")
            if backend == "sqlite"
            else _server_raw(backend, parsed)
        )
        self.side = FloorSide(
            raw, backend, insert_returning=True, project=PROJECT, client_id=CLIENT_ID
        )
        self.queue = queue
        self.posts = {count: bodies(0, count) for count in POST_SIZES.values()}

    def post(self, count: int) -> None:
        self.side.post(self.queue, self.posts[count], [MESSAGE_TTL] * count)

    def claim(self) -> Claim:
        claim_id, held = self.side.claim_rows(self.queue, CLAIM_LIMIT, CLAIM_TTL, CLAIM_GRACE)
        if claim_id is None:
            raise BenchError("floor: nothing claimed")
        ids = [m.id for m in held]
        return Claim(claim_id, ids, ids)

    def delete(self, claim: Claim, index: int) -> None:
        self.side.delete(self.queue, claim.handles[index], claim.id)

    def bulk_delete(self, claim: Claim) -> None:
        self.side.bulk_delete(self.queue, claim.message_ids)

    def stats(self) -> None:
        self.side.stats(self.queue)


class CannedApp:
    """A WSGI app answering at once with fixed answers of the floor's shape.

    Its count is the harness's own: building each environ, calling the app,
    joining and parsing the answer (about what both sides' counts include).
    """

    def __init__(self, queue: str) -> None:
        base = f"/v2/queues/{queue}/messages"
        claim = "0123456789abcdef" * 2
        found = [
            {"id": str(n), "href": f"{base}/{n}?claim_id={claim}", "ttl": 300, "age": 0, "body": b}
            for n, b in enumerate(bodies(0, CLAIM_LIMIT))
        ]
        self.claim = json.dumps({"messages": found}).encode()
        self.posted = json.dumps({"resources": [f"{base}/1"]}).encode()
        self.stats = json.dumps({"messages": {"free": 1000, "claimed": 0, "total": 1000}}).encode()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """The canned answer of the request's kind."""
        method = environ["REQUEST_METHOD"]
        if method == "DELETE":
            start_response("204 No Content", [])
            return []
        if method == "GET":
            start_response("200 OK", [("content-type", "application/json")])
            return [self.stats]
        start_response("201 Created", [("content-type", "application/json")])
        return [self.claim if environ["PATH_INFO"].endswith("/claims") else self.posted]


def make_client(layer: str, side: str, url: str, queue: str) -> Client:
    """The client of ``side`` at ``layer`` on ``queue``; sqlqueue's logging as under ``serve``."""
    from sqlqueue import logs

    logs.configure("INFO", "text")  # as serve: one stderr handler (the parent's file)
    if layer == "storage":
        return StoreClient(url, queue) if side == "sqlqueue" else FloorClient(url, queue)
    if side == HARNESS:
        return HttpClient(CannedApp(queue), queue)
    if side == "floor":
        from floor_app import create_app as create_floor

        return HttpClient(create_floor(url), queue)
    from sqlqueue import bootstrap
    from sqlqueue.config import Settings

    return HttpClient(bootstrap.create_app(Settings(database_url=url)), queue)


def run_cycle(client: Client, op: str) -> None:
    """One cycle of ``op`` (``REQUESTS_PER_CYCLE[op]`` requests)."""
    if op in POST_SIZES:
        client.post(POST_SIZES[op])
    elif op == "stats":
        client.stats()
    else:
        claim = client.claim()
        if len(claim.message_ids) != CLAIM_LIMIT:
            raise BenchError(f"{op}: claimed {len(claim.message_ids)} messages")
        if op == "claim10+bulk":
            client.bulk_delete(claim)
        else:
            for index in range(CLAIM_LIMIT):
                client.delete(claim, index)


def cycles_for(op: str, requests: int) -> int:
    """Whole cycles of ``op`` for at least ``requests`` requests."""
    return math.ceil(requests / REQUESTS_PER_CYCLE[op])


def child(argv: Sequence[str]) -> int:
    """Under valgrind: build one side, run its operation; print the requests made."""
    parser = argparse.ArgumentParser(prog="instr_bench.py child")
    parser.add_argument("layer", choices=LAYERS)
    parser.add_argument("side", choices=(*SIDES, HARNESS))
    parser.add_argument("op", choices=OPERATIONS)
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("cycles", type=int)
    args = parser.parse_args(argv)
    client = make_client(args.layer, args.side, args.url, args.queue)
    for _ in range(args.cycles):
        run_cycle(client, args.op)
    print(args.cycles * REQUESTS_PER_CYCLE[args.op])
    return 0


# -------------------------------------------------------------------- the parent


@dataclass(frozen=True)
class Task:
    """One child run: a side's operation at a layer, for ``cycles`` cycles on ``queue``."""

    layer: str
    side: str
    op: str
    cycles: int

    @property
    def queue(self) -> str:
        """The run's own queue (Zaqar names: letters, digits, ``-`` and ``_``)."""
        slug = self.op.replace(" ", "").replace("+", "-")
        return f"{self.layer}-{self.side}-{slug}-{self.cycles}"


@dataclass
class Counts:
    """Instructions and requests of each child run of one backend."""

    runs: dict[Task, tuple[int, int]] = field(default_factory=dict)

    def per_request(self, layer: str, side: str, op: str) -> float:
        """Instructions per request between the two runs of (layer, side, op)."""
        (i1, r1), (i2, r2) = sorted(
            value
            for task, value in self.runs.items()
            if (task.layer, task.side, task.op) == (layer, side, op)
        )
        return (i2 - i1) / (r2 - r1)

    def has(self, layer: str, op: str, sides: Sequence[str] = SIDES) -> bool:
        """Whether both runs of each of ``sides`` at (layer, op) are in."""
        keys = [(t.layer, t.side, t.op) for t in self.runs]
        return all(keys.count((layer, side, op)) == 2 for side in sides)


def fill(driver: SqlDataDriver, task: Task) -> None:
    """Create the task's queue with the messages its operation consumes (uncounted)."""
    if task.side == HARNESS:
        return
    driver.queues.create(PROJECT, task.queue)
    if task.op == "stats":
        count = STATS_DEPTH
    elif task.op.startswith("claim"):
        count = task.cycles * CLAIM_LIMIT
    else:
        return
    for start in range(0, count, 500):
        batch = [NewMessage(b, ttl=MESSAGE_TTL) for b in bodies(start, min(500, count - start))]
        driver.messages.post(PROJECT, task.queue, batch, CLIENT_ID)


def measure(task: Task, url: str, scratch: Path) -> tuple[int, int]:
    """Run ``task`` under valgrind: (instructions, requests). :raises BenchError: it failed."""
    name = f"{task.queue}"
    log, errors, metrics = scratch / f"{name}.vg", scratch / f"{name}.err", scratch / name
    metrics.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": "0", "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    args = [task.layer, task.side, task.op, url, task.queue, str(task.cycles)]
    command = [*VALGRIND, f"--log-file={log}", sys.executable, __file__, "child", *args]
    with errors.open("wb") as stderr:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, env=env, check=False)
    found = REFS.search(log.read_text()) if log.exists() else None
    if done.returncode or found is None:
        tail = errors.read_text(errors="replace")[-2000:]
        raise BenchError(f"{task}: exit status {done.returncode}\n{tail}")
    return int(found.group(1).replace(",", "")), int(done.stdout.split()[-1])


def sides_at(layer: str) -> tuple[str, ...]:
    """The sides counted at ``layer``: the harness's own cost at the HTTP layer too."""
    return (*SIDES, HARNESS) if layer == "http" else SIDES


def tasks(args: argparse.Namespace) -> list[Task]:
    """Every child run: each layer, operation and side, at both request counts."""
    found = []
    for layer in args.layers:
        for op in args.operations:
            fewer = cycles_for(op, args.requests[0])
            more = max(cycles_for(op, args.requests[1]), fewer + 1)
            found += [
                Task(layer, side, op, cycles)
                for side in sides_at(layer)
                for cycles in (fewer, more)
            ]
    return found


def bench(db: Database, args: argparse.Namespace) -> Counts:
    """Prepare every run's queue on ``db``, then run the children ``--jobs`` at a time."""
    from statement_check import check_statements

    with floor_backend(db) as backend:
        print(f"  {db.backend} {check_statements(backend)}", flush=True)
    driver = SqlDataDriver(db.engine)
    todo = tasks(args)
    for task in todo:
        fill(driver, task)
    db.settle()
    counts = Counts()
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="sqlqueue-instr-") as scratch,
        ThreadPoolExecutor(args.jobs) as pool,
    ):
        futures = {task: pool.submit(measure, task, db.url, Path(scratch)) for task in todo}
        for task, future in futures.items():
            counts.runs[task] = future.result()
            sides = sides_at(task.layer)
            if counts.has(task.layer, task.op, sides) and task.side == sides[-1]:
                cells = ", ".join(
                    f"{side} {counts.per_request(task.layer, side, task.op):,.0f}" for side in sides
                )
                print(f"  {db.backend} {task.layer} {task.op}: instructions/request {cells}")
    print(f"  {db.backend}: {len(todo)} runs in {time.monotonic() - started:.0f} s", flush=True)
    return counts


def print_table(results: dict[str, Counts]) -> None:
    """One markdown table: per backend, layer and operation, both sides and their ratio."""
    rows: list[tuple[str, ...]] = [
        (
            "backend",
            "layer",
            "operation",
            "sqlqueue instr/req",
            "floor instr/req",
            "sqlqueue/floor",
            "harness instr/req",
            "ratio less harness",
        )
    ]
    for name, counts in results.items():
        for layer in LAYERS:
            for op in [op for op in OPERATIONS if counts.has(layer, op)]:
                ours = counts.per_request(layer, "sqlqueue", op)
                floor = counts.per_request(layer, "floor", op)
                cells = [f"{ours:,.0f}", f"{floor:,.0f}", f"{ours / floor:.2f}", "", ""]
                if counts.has(layer, op, [HARNESS]):
                    own = counts.per_request(layer, HARNESS, op)
                    cells[3:] = [f"{own:,.0f}", f"{(ours - own) / (floor - own):.2f}"]
                rows.append((name, layer, op, *cells))
    print(markdown(rows))
    print(
        "harness: the in-process client's own instructions (environ, call, answer parsing),"
        " counted against canned answers; in both sides' counts"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags, checked: known operations, two increasing request counts, valgrind there."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    cli.add_database_flags(parser, "postgresql", "sqlqueue_instr_bench")
    parser.add_argument("--storage", action="store_true", help="also count the storage layer alone")
    parser.add_argument(
        "--requests", default="100,300", help="N1,N2 requests per pair of runs (default 100,300)"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="children at once (default: cpus)"
    )
    parser.add_argument(
        "--operations", default=",".join(OPERATIONS), help="of " + ",".join(OPERATIONS)
    )
    args = parser.parse_args(argv)
    args.operations = [op.strip() for op in args.operations.split(",") if op.strip()]
    unknown = set(args.operations) - set(OPERATIONS)
    if unknown:
        parser.error(f"unknown operations: {', '.join(sorted(unknown))}")
    try:
        args.requests = [int(n) for n in args.requests.split(",")]
    except ValueError:
        parser.error("--requests takes two numbers, N1,N2")
    if len(args.requests) != 2 or not 0 < args.requests[0] < args.requests[1]:
        parser.error("--requests takes two numbers, 0 < N1 < N2")
    cli.require_positive(parser, args, ("jobs",))
    args.layers = list(LAYERS) if args.storage else ["http"]
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        return child(argv[1:])
    args = parse_args(argv)
    print(environment(falcon=version("falcon"), valgrind=_valgrind_version()), flush=True)
    return cli.finish(cli.run_backends(args, lambda db: bench(db, args)), print_table)


def _valgrind_version() -> str:
    done = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().removeprefix("valgrind-")


if __name__ == "__main__":
    sys.exit(main())
