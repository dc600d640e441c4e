"""HTTP benchmark: ``sqlqueue serve`` over loopback beside the in-process storage floor.

For each backend a fresh database is created and migrated, a real
``sqlqueue serve`` subprocess (gunicorn, threaded workers) is started on a
free port of 127.0.0.1, and three workloads run on two sides, each with the
same number of concurrent client threads:

* **http**: ``requests.Session`` clients (one per thread, keep-alive) speaking
  the Zaqar v2 wire format to the server;
* **floor**: the same operations called directly on ``SqlDataDriver`` in this
  process, against the same database.

The workloads, as in ``storage_bench.py``:

1. ``post x1``: post one message per request;
2. ``post x10``: post batches of ten;
3. ``claim10+delete``: every client loops ``POST .../claims?limit=10`` (201,
   or 204 when nothing is left) and DELETEs each claimed message by its href
   (``?claim_id=``), until the queue is empty.

So HTTP msg/s / floor msg/s is what the HTTP layer costs: the client library,
the WSGI server, Falcon, validation, routing through the pool catalogue and
serialisation. After a warm-up round the sides take turns (which goes first
alternates) for R rounds, each round on a new queue. Every round is checked:
every posted message is consumed exactly once with its body, and the queue is
left empty. The table keeps the best round of each side; latencies are per
request, client-side, over all timed rounds. CPU per message is read from
``/proc`` (server workers) and ``time.process_time`` (this process: the HTTP
clients, or the floor).

Usage::

    python bench/http_bench.py [--backends sqlite,postgresql] [--messages N] [--rounds R]
                               [--workers W] [--clients C]
"""

# requests ships no type information (types-requests is not a project dependency).
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

import requests
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql import migrate
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine

T = TypeVar("T")
P = ParamSpec("P")
Body = dict[str, Any]
Latencies = dict[str, list[float]]

HOST = "127.0.0.1"
PROJECT = "httpbench"
CLAIM_TTL = 300
CLAIM_GRACE = 60
CLAIM_LIMIT = 10
BATCH = 10
MESSAGE_TTL = 3600
PAYLOAD = "x" * 64
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
REQUEST_TIMEOUT = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

OPERATIONS = ("post x1", "post x10", "claim10+delete")
SIDES = ("http", "floor")
DEFAULT_URLS = {
    "postgresql": os.environ.get(
        "SQLQUEUE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"
    ),
    "mysql": os.environ.get("SQLQUEUE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
}


class BenchError(Exception):
    """A failed request, a failed check or a phase past its deadline."""


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class Claimed:
    """A claimed message: its id, the ``seq`` of its body, and how to delete it."""

    id: str
    seq: int
    ref: str
    """HTTP: the href to DELETE (carries ``?claim_id=``); floor: the claim id."""


class Client(Protocol):
    """One client thread's view of a side."""

    def post(self, queue: str, bodies: Sequence[Body]) -> list[str]:
        """Post ``bodies`` in one request; their ids in input order."""

    def claim(self, queue: str) -> list[Claimed]:
        """Claim up to CLAIM_LIMIT messages; empty when none is free."""

    def delete(self, queue: str, message: Claimed) -> None:
        """Delete one claimed message with its claim id."""

    def close(self) -> None:
        """Release the client's resources."""


class HttpClient:
    """A keep-alive ``requests.Session`` speaking the Zaqar v2 wire format."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Client-ID": str(uuid.uuid4()),
                "X-Project-Id": PROJECT,
                "Accept": "application/json",
            }
        )

    def _call(
        self, method: str, path: str, expect: tuple[int, ...], document: Any = None
    ) -> requests.Response:
        url = self.base_url + path
        resp = self.session.request(method, url, json=document, timeout=REQUEST_TIMEOUT)
        if resp.status_code not in expect:
            raise BenchError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp

    def connect(self) -> None:
        """Open the keep-alive connection (untimed)."""
        self._call("GET", "/v2/ping", (204,))

    def create_queue(self, queue: str) -> None:
        self._call("PUT", f"/v2/queues/{queue}", (201, 204))

    def post(self, queue: str, bodies: Sequence[Body]) -> list[str]:
        document = {"messages": [{"body": body, "ttl": MESSAGE_TTL} for body in bodies]}
        resp = self._call("POST", f"/v2/queues/{queue}/messages", (201,), document)
        hrefs: list[str] = resp.json()["resources"]
        return [href.rsplit("/", 1)[1] for href in hrefs]

    def claim(self, queue: str) -> list[Claimed]:
        document = {"ttl": CLAIM_TTL, "grace": CLAIM_GRACE}
        path = f"/v2/queues/{queue}/claims?limit={CLAIM_LIMIT}"
        resp = self._call("POST", path, (201, 204), document)
        if resp.status_code == 204:
            return []
        claimed = []
        for message in resp.json()["messages"]:
            href: str = message["href"]
            where, _, query = href.partition("?")
            if not query.startswith("claim_id="):
                raise BenchError(f"claimed message without a claim id: {href}")
            claimed.append(Claimed(where.rsplit("/", 1)[1], int(message["body"]["seq"]), href))
        return claimed

    def delete(self, queue: str, message: Claimed) -> None:
        self._call("DELETE", message.ref, (204,))

    def close(self) -> None:
        self.session.close()


class FloorClient:
    """The same operations on ``SqlDataDriver``, in this process (drivers are thread-safe)."""

    def __init__(self, driver: SqlDataDriver) -> None:
        self.driver = driver
        self.client_id = str(uuid.uuid4())

    def post(self, queue: str, bodies: Sequence[Body]) -> list[str]:
        batch = [NewMessage(body, ttl=MESSAGE_TTL) for body in bodies]
        return self.driver.messages.post(PROJECT, queue, batch, self.client_id)

    def claim(self, queue: str) -> list[Claimed]:
        claim_id, found = self.driver.claims.create(
            PROJECT, queue, ttl=CLAIM_TTL, grace=CLAIM_GRACE, limit=CLAIM_LIMIT
        )
        if claim_id is None:
            return []
        return [Claimed(m.id, int(m.body["seq"]), claim_id) for m in found]

    def delete(self, queue: str, message: Claimed) -> None:
        self.driver.messages.delete(PROJECT, queue, message.id, message.ref)

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------- server


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def serve_command() -> list[str]:
    """The ``sqlqueue`` script beside this interpreter, else ``python -m sqlqueue`` (the same)."""
    beside = Path(sys.executable).with_name("sqlqueue")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "sqlqueue"]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from the state (3rd) on


def children_of(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (the gunicorn workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == parent:
                found.append(int(entry))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    fields = _stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


class Server:
    """A ``sqlqueue serve`` subprocess in its own process group, always stopped."""

    def __init__(self, database_url: str, workers: int, log: Path, log_level: str | None) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQLQUEUE_")}
        if log_level:
            env["SQLQUEUE_LOG_LEVEL"] = log_level
        args = ["serve", "--host", HOST, "--port", str(self.port), "--workers", str(workers)]
        args += ["--database-url", database_url]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*serve_command(), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own group: the workers can be killed with it
            )
        self.workers: list[int] = []

    def output(self, tail: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def wait_until_up(self, workers: int) -> None:
        """Poll /v2/ping until it answers 204 and every worker has forked."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"sqlqueue serve exited early:\n{self.output()}")
            try:
                ping = requests.get(f"{self.url}/v2/ping", headers=_headers(), timeout=1)
                self.workers = children_of(self.process.pid)
                if ping.status_code == 204 and len(self.workers) >= workers:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise BenchError(f"sqlqueue serve did not answer within {START_TIMEOUT}s:\n{self.output()}")

    def cpu(self) -> dict[int, float]:
        """CPU seconds of each worker."""
        return {pid: cpu_seconds(pid) for pid in self.workers}

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL for whatever of it is left."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its group: master and workers
                self.process.wait(timeout=5)
        for pid in self.workers:  # a worker that outlived its master (still in its group)
            fields = _stat_fields(pid)
            if fields is not None and int(fields[2]) == self.process.pid:
                os.kill(pid, signal.SIGKILL)


def _headers() -> dict[str, str]:
    return {"Client-ID": str(uuid.uuid4()), "X-Project-Id": PROJECT}


@contextmanager
def running_server(
    database_url: str, workers: int, log_dir: Path, log_level: str | None
) -> Iterator[Server]:
    server = Server(database_url, workers, log_dir / "server.log", log_level)
    try:
        server.wait_until_up(workers)
        yield server
    except BenchError:
        print(f"--- end of the server log:\n{server.output()}", file=sys.stderr)
        raise
    finally:
        server.stop()


# ------------------------------------------------------------------------- databases


@dataclass
class Database:
    """A fresh migrated database: its URL and an engine for the floor and the checks."""

    name: str
    url: str
    engine: Engine

    def settle(self) -> None:
        """Untimed: drop claims, let the database tidy up, collect garbage."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM claims")
        if self.name == "postgresql":
            auto = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            with auto as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) messages, claims, queues")
        elif self.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        gc.collect()

    def left_in_queue(self, queue: str) -> int:
        stmt = sa.text(
            "SELECT count(*) FROM messages m JOIN queues q ON q.id = m.queue_id"
            " WHERE q.project = :project AND q.name = :name"
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt, {"project": PROJECT, "name": queue}).scalar_one())


def _admin(url: URL, statement: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@contextmanager
def fresh_database(name: str, server_urls: dict[str, str], db_name: str) -> Iterator[Database]:
    """A new database on backend ``name``, migrated to head; dropped afterwards."""
    cleanup: list[Callable[[], None]] = []
    try:
        if name == "sqlite":
            tmp = tempfile.TemporaryDirectory(prefix="sqlqueue-httpbench-")
            cleanup.append(tmp.cleanup)
            url = f"sqlite:///{Path(tmp.name) / db_name}.db"
        else:
            server = make_url(server_urls[name])
            if name == "mysql" and "+" not in server.drivername:
                server = server.set(drivername="mysql+pymysql")
            quote, force = ('"', " WITH (FORCE)") if name == "postgresql" else ("`", "")
            drop = f"DROP DATABASE IF EXISTS {quote}{db_name}{quote}{force}"
            _admin(server, drop)
            _admin(server, f"CREATE DATABASE {quote}{db_name}{quote}")
            cleanup.append(lambda: _admin(server, drop))
            url = server.set(database=db_name).render_as_string(hide_password=False)
        engine = make_engine(url)
        cleanup.append(engine.dispose)
        migrate.upgrade(engine)
        yield Database(name, url, engine)
    finally:
        for step in reversed(cleanup):
            try:
                step()
            except Exception as ex:  # keep cleaning up
                print(f"  cleanup on {name} failed: {ex}", file=sys.stderr)


# -------------------------------------------------------------------------- workload


def _bodies(start: int, count: int) -> list[Body]:
    return [
        {"event": "bench", "seq": seq, "payload": PAYLOAD} for seq in range(start, start + count)
    ]


@dataclass
class Phase:
    """One timed workload of one side."""

    seconds: float
    messages: int
    latencies: Latencies
    client_cpu: float
    server_cpu: dict[int, float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


Work = Callable[[Client, int, Latencies, float], list[T]]
"""What one thread runs: (client, thread index, latencies, deadline) -> its results."""


@dataclass
class Side:
    """One way of reaching the queue: a client per thread, and queue creation."""

    name: str
    make_client: Callable[[], Client]
    create_queue: Callable[[str], None]
    server: Server | None = None


def _timed(
    latencies: Latencies, kind: str, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    latencies.setdefault(kind, []).append(time.perf_counter() - started)
    return result


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise BenchError("the phase ran past --phase-timeout")


def run_phase(
    side: Side, clients: int, messages: int, work: Work[T], timeout: float
) -> tuple[Phase, list[T]]:
    """Run ``work`` on ``clients`` threads released together; time until all are done."""
    barrier = threading.Barrier(clients + 1)
    results: list[list[T]] = [[] for _ in range(clients)]
    latencies: list[Latencies] = [{} for _ in range(clients)]
    errors: list[BaseException] = []
    deadline = time.monotonic() + timeout

    def thread_main(index: int) -> None:
        client: Client | None = None
        try:
            client = side.make_client()  # HTTP: opens the keep-alive connection, untimed
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
        threading.Thread(target=thread_main, args=(i,), name=f"{side.name}-{i}", daemon=True)
        for i in range(clients)
    ]
    server_before = side.server.cpu() if side.server else {}
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
    server_after = side.server.cpu() if side.server else {}
    if errors:
        raise BenchError(f"{side.name}: {errors[0]}") from errors[0]
    merged: Latencies = {}
    for per_thread in latencies:
        for kind, values in per_thread.items():
            merged.setdefault(kind, []).extend(values)
    server_cpu = {pid: cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items()}
    phase = Phase(seconds, messages, merged, client_cpu, server_cpu)
    return phase, [item for chunk in results for item in chunk]


def poster(queue: str, batches: list[list[Body]], clients: int) -> Work[tuple[str, int]]:
    """Thread i posts batches i, i + clients, ...; it returns (message id, seq) pairs."""

    def work(
        client: Client, index: int, latencies: Latencies, deadline: float
    ) -> list[tuple[str, int]]:
        posted: list[tuple[str, int]] = []
        for batch in batches[index::clients]:
            _check_deadline(deadline)
            ids = _timed(latencies, "post", client.post, queue, batch)
            if len(ids) != len(batch):
                raise BenchError(f"posted {len(batch)} messages, got {len(ids)} ids")
            posted += zip(ids, [body["seq"] for body in batch], strict=True)
        return posted

    return work


def consumer(queue: str) -> Work[Claimed]:
    """Claim up to ten, delete each with its claim id, until a claim finds nothing."""

    def work(client: Client, _index: int, latencies: Latencies, deadline: float) -> list[Claimed]:
        consumed: list[Claimed] = []
        while True:
            _check_deadline(deadline)
            found = _timed(latencies, "claim", client.claim, queue)
            if not found:
                return consumed
            for message in found:
                _timed(latencies, "delete", client.delete, queue, message)
            consumed += found

    return work


def verify(
    side: str, posted: list[tuple[str, int]], consumed: list[Claimed], total: int, left: int
) -> None:
    """Every posted message consumed exactly once, with its body; the queue empty."""
    problems = []
    seq_of = dict(posted)
    if len(posted) != total or len(seq_of) != total:
        problems.append(f"{len(seq_of)} distinct ids for {len(posted)} of {total} posted")
    if sorted(seq_of.values()) != list(range(total)):
        problems.append("the posted ids do not cover the posted bodies")
    ids = [message.id for message in consumed]
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} messages consumed more than once")
    if set(ids) != set(seq_of):
        lost, unknown = len(set(seq_of) - set(ids)), len(set(ids) - set(seq_of))
        problems.append(f"{lost} posted messages never consumed, {unknown} unknown consumed")
    wrong = sum(1 for message in consumed if seq_of.get(message.id) != message.seq)
    if wrong:
        problems.append(f"{wrong} consumed bodies differ from the posted ones")
    if left:
        problems.append(f"{left} messages left in the queue")
    if problems:
        raise BenchError(f"{side}: " + "; ".join(problems))


def run_round(
    db: Database, side: Side, queue: str, count: int, clients: int, timeout: float
) -> dict[str, Phase]:
    """Post ``count`` singly and ``count`` in batches, then consume all 2 x ``count``."""
    side.create_queue(queue)
    phases: dict[str, Phase] = {}
    posted: list[tuple[str, int]] = []
    for op, start, size in (("post x1", 0, 1), ("post x10", count, BATCH)):
        bodies = _bodies(start, count)
        batches = [bodies[i : i + size] for i in range(0, count, size)]
        db.settle()
        phases[op], ids = run_phase(side, clients, count, poster(queue, batches, clients), timeout)
        posted += ids
    db.settle()
    op = OPERATIONS[2]
    phases[op], consumed = run_phase(side, clients, 2 * count, consumer(queue), timeout)
    verify(side.name, posted, consumed, 2 * count, db.left_in_queue(queue))
    return phases


# --------------------------------------------------------------------------- results


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``values`` not empty)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


@dataclass
class Results:
    """Every timed phase of one backend, per (side, operation)."""

    phases: dict[tuple[str, str], list[Phase]] = field(default_factory=dict)

    def add(self, side: str, phases: dict[str, Phase]) -> None:
        for op, phase in phases.items():
            self.phases.setdefault((side, op), []).append(phase)

    def best(self, side: str, op: str) -> float:
        return max(phase.rate for phase in self.phases[(side, op)])

    def spread(self, side: str, op: str) -> float:
        """(best - worst) / best over the rounds, as a noise indicator."""
        rates = [phase.rate for phase in self.phases[(side, op)]]
        return (max(rates) - min(rates)) / max(rates)

    def latencies(self, side: str, op: str) -> Latencies:
        merged: Latencies = {}
        for phase in self.phases[(side, op)]:
            for kind, values in phase.latencies.items():
                merged.setdefault(kind, []).extend(values)
        return merged

    def cpu_per_message(self, side: str, op: str) -> tuple[float, float]:
        """(this process, server workers) CPU microseconds per message, over all rounds."""
        phases = self.phases[(side, op)]
        count = sum(phase.messages for phase in phases)
        client = sum(phase.client_cpu for phase in phases)
        server = sum(sum(phase.server_cpu.values()) for phase in phases)
        return client / count * 1e6, server / count * 1e6

    def worker_shares(self) -> list[float]:
        """Each server worker's share of the server CPU over every HTTP phase."""
        per_pid: dict[int, float] = {}
        for (side, _op), phases in self.phases.items():
            for phase in phases if side == "http" else []:
                for pid, cpu in phase.server_cpu.items():
                    per_pid[pid] = per_pid.get(pid, 0.0) + cpu
        total = sum(per_pid.values()) or 1.0
        return [cpu / total for _pid, cpu in sorted(per_pid.items())]


def _markdown(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _ms(values: Sequence[float], pct: float) -> str:
    return f"{percentile(values, pct) * 1000:.1f}"


def print_tables(results: dict[str, Results]) -> None:
    head = ("backend", "operation", "HTTP msg/s", "floor msg/s", "HTTP/floor", "p50 ms", "p99 ms")
    rows: list[tuple[str, ...]] = [head]
    cpu_rows: list[tuple[str, ...]] = [
        ("backend", "operation", "client µs/msg", "server µs/msg", "floor µs/msg", "requests/msg")
    ]
    notes = []
    for name, res in results.items():
        for op in OPERATIONS:
            http, floor = res.best("http", op), res.best("floor", op)
            lat = res.latencies("http", op)
            every = [value for values in lat.values() for value in values]
            rates = (f"{http:,.0f}", f"{floor:,.0f}", f"{http / floor:.2f}")
            rows.append((name, op, *rates, _ms(every, 50), _ms(every, 99)))
            client, server = res.cpu_per_message("http", op)
            floor_cpu, _ = res.cpu_per_message("floor", op)
            requests_per_message = len(every) / sum(p.messages for p in res.phases[("http", op)])
            cpus = (f"{client:,.0f}", f"{server:,.0f}", f"{floor_cpu:,.0f}")
            cpu_rows.append((name, op, *cpus, f"{requests_per_message:.2f}"))
            if len(lat) > 1:
                kinds = ", ".join(
                    f"{kind} p50 {_ms(v, 50)} / p99 {_ms(v, 99)} ms" for kind, v in lat.items()
                )
                notes.append(f"{name} {op}: {kinds}")
        shares = "/".join(f"{share:.0%}" for share in res.worker_shares())
        notes.append(f"{name}: server CPU split between workers {shares}")
    print(_markdown(rows))
    print()
    print(_markdown(cpu_rows))
    print()
    print("\n".join(notes))
    noisy = [
        f"{name}/{op}/{side} {res.spread(side, op):.0%}"
        for name, res in results.items()
        for op in OPERATIONS
        for side in SIDES
        if res.spread(side, op) > 0.15
    ]
    if noisy:
        print("spread between rounds above 15%: " + ", ".join(noisy))


# ---------------------------------------------------------------------------- driver


def _http_side(server: Server) -> Side:
    def make_client() -> Client:
        client = HttpClient(server.url)
        client.connect()
        return client

    def create_queue(queue: str) -> None:
        client = HttpClient(server.url)
        try:
            client.create_queue(queue)
        finally:
            client.close()

    return Side("http", make_client, create_queue, server)


def _floor_side(db: Database) -> Side:
    driver = SqlDataDriver(db.engine)

    def create_queue(queue: str) -> None:
        driver.queues.create(PROJECT, queue)

    return Side("floor", lambda: FloorClient(driver), create_queue)


def bench_backend(db: Database, args: argparse.Namespace, log_dir: Path) -> Results:
    """Start the server, warm both sides up, then interleaved rounds of both sides."""
    results = Results()
    with running_server(db.url, args.workers, log_dir, args.log_level) as server:
        print(f"  {db.name}: sqlqueue serve on {server.url}, workers {server.workers}", flush=True)
        sides = [_http_side(server), _floor_side(db)]
        warm = max(BATCH, min(args.messages, 200) // BATCH * BATCH)
        for side in sides:
            run_round(db, side, f"warmup-{side.name}", warm, args.clients, args.phase_timeout)
        for round_no in range(args.rounds):
            for side in sides if round_no % 2 == 0 else sides[::-1]:
                queue = f"r{round_no}-{side.name}"
                phases = run_round(db, side, queue, args.messages, args.clients, args.phase_timeout)
                results.add(side.name, phases)
                rates = ", ".join(f"{op} {phase.rate:,.0f}/s" for op, phase in phases.items())
                print(f"  {db.name} round {round_no + 1} {side.name:5}: {rates}", flush=True)
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="also: mysql")
    parser.add_argument(
        "--messages", type=int, default=1000, help="messages per posting workload (1000)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side; best kept (5)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (4)")
    parser.add_argument("--postgres-url", default=DEFAULT_URLS["postgresql"])
    parser.add_argument("--mysql-url", default=DEFAULT_URLS["mysql"])
    parser.add_argument("--db-name", default="sqlqueue_httpbench")
    parser.add_argument("--log-level", help="the server's SQLQUEUE_LOG_LEVEL (default: INFO)")
    parser.add_argument(
        "--phase-timeout", type=float, default=120.0, help="seconds one phase may take (120)"
    )
    args = parser.parse_args(argv)
    if args.messages < BATCH or args.messages % BATCH:
        parser.error(f"--messages must be a positive multiple of {BATCH}")
    for option in ("rounds", "workers", "clients"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")
    return args


def _stop_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: the server stops


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    urls = {"postgresql": args.postgres_url, "mysql": args.mysql_url}
    print(
        f"sqlqueue HTTP bench: {args.messages} messages per workload, best of {args.rounds}"
        f" rounds, {args.clients} client threads, {args.workers} server workers;"
        f" python {sys.version.split()[0]}, requests {version('requests')},"
        f" {os.cpu_count()} cpus",
        flush=True,
    )
    results: dict[str, Results] = {}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            with (
                fresh_database(name, urls, args.db_name) as db,
                tempfile.TemporaryDirectory(prefix="sqlqueue-httpbench-log-") as logs,
            ):
                results[name] = bench_backend(db, args, Path(logs))
        except sa.exc.OperationalError as ex:
            print(f"{name}: unreachable, skipped ({ex.orig})", file=sys.stderr)
    if not results:
        print("no backend could be benchmarked", file=sys.stderr)
        return 1
    print()
    print_tables(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
