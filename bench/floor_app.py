"""The HTTP floor: a minimal Falcon app running sqlqueue's statements by hand over the raw driver.

It answers the five requests ``cpu_bench.py`` sends, with Zaqar's status codes and
the parts of Zaqar's bodies a client reads (ids, hrefs, counts), and nothing else:
no validation beyond what the statements need, no access log, no request ids. Its
SQL is ``storage_sides.FloorSide`` (the storage bench's floor, which
``statement_check.py`` holds to sqlqueue's statements), one raw connection per
thread. It is served the way ``sqlqueue serve`` serves: granian's RSGI interface,
the same front (``sqlqueue.rsgi.WsgiFront``), the same workers and threads::

    python bench/floor_app.py --database-url URL --port 8899 [--workers 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import falcon
from granian.constants import HTTPModes, Interfaces
from granian.server.mp import MPServer
from harness.server import HOST, Server, free_port
from sqlalchemy.engine import make_url
from storage_sides import FloorSide, _server_raw, _sqlite_raw

from sqlqueue.rsgi import WsgiFront

MAX_BODY = 1048576
"""Bytes: ``sqlqueue serve``'s default ``max_body_size``."""
BODY_TIMEOUT = 30.0
"""Seconds: ``sqlqueue serve``'s default ``body_timeout``."""


class Sides:
    """One ``FloorSide`` per (thread, project), each thread with its own raw connection."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self._backend = parsed.get_backend_name()
        self._url = parsed
        self._local = threading.local()

    def get(self, req: falcon.Request) -> FloorSide:
        """The calling thread's side for the request's project and client."""
        local = self._local
        if not hasattr(local, "conn"):
            local.conn = (
                _sqlite_raw(self._url.database or "")
                if self._backend == "sqlite"
                else _server_raw(self._backend, self._url)
            )
            local.sides = {}
        key = (req.get_header("X-Project-Id") or "", req.get_header("Client-ID") or "")
        side: FloorSide | None = local.sides.get(key)
        if side is None:
            side = local.sides[key] = FloorSide(
                local.conn, self._backend, insert_returning=True, project=key[0], client_id=key[1]
            )
        return side


def _json(resp: falcon.Response, status: str, document: Any) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(document).encode()


class Messages:
    """``/v2/queues/{queue}/messages``: post, bulk delete by ids."""

    def __init__(self, sides: Sides) -> None:
        self._sides = sides

    def on_post(self, req: falcon.Request, resp: falcon.Response, queue: str) -> None:
        batch = json.loads(req.bounded_stream.read())["messages"]
        ids = self._sides.get(req).post(
            queue, [m["body"] for m in batch], [m.get("ttl") for m in batch]
        )
        hrefs = [f"/v2/queues/{queue}/messages/{mid}" for mid in ids]
        resp.location = f"/v2/queues/{queue}/messages?ids={','.join(ids)}"
        _json(resp, falcon.HTTP_201, {"resources": hrefs})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, queue: str) -> None:
        self._sides.get(req).bulk_delete(queue, (req.get_param("ids") or "").split(","))
        resp.status = falcon.HTTP_204


class Message:
    """``/v2/queues/{queue}/messages/{message_id}``: delete with a claim."""

    def __init__(self, sides: Sides) -> None:
        self._sides = sides

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, queue: str, message_id: str
    ) -> None:
        self._sides.get(req).delete(queue, message_id, req.get_param("claim_id") or "")
        resp.status = falcon.HTTP_204


class Claims:
    """``/v2/queues/{queue}/claims``: claim up to ``limit`` messages."""

    def __init__(self, sides: Sides) -> None:
        self._sides = sides

    def on_post(self, req: falcon.Request, resp: falcon.Response, queue: str) -> None:
        lease = json.loads(req.bounded_stream.read() or b"{}")
        limit = req.get_param_as_int("limit") or 10
        claim_id, held = self._sides.get(req).claim_rows(
            queue, limit, lease.get("ttl", 60), lease.get("grace", 60)
        )
        if claim_id is None:
            resp.status = falcon.HTTP_204
            return
        resp.location = f"/v2/queues/{queue}/claims/{claim_id}"
        found = [
            {
                "id": m.id,
                "href": f"/v2/queues/{queue}/messages/{m.id}?claim_id={claim_id}",
                "ttl": m.ttl,
                "age": m.age,
                "body": m.body,
            }
            for m in held
        ]
        _json(resp, falcon.HTTP_201, {"messages": found})


class Stats:
    """``/v2/queues/{queue}/stats``."""

    def __init__(self, sides: Sides) -> None:
        self._sides = sides

    def on_get(self, req: falcon.Request, resp: falcon.Response, queue: str) -> None:
        counts = self._sides.get(req).stats(queue)
        doc: dict[str, Any] = {
            "free": counts.total - counts.claimed,
            "claimed": counts.claimed,
            "total": counts.total,
        }
        for name, edge in (("oldest", counts.oldest), ("newest", counts.newest)):
            if edge is not None:
                doc[name] = {
                    "id": edge[0],
                    "href": f"/v2/queues/{queue}/messages/{edge[0]}",
                    "created": edge[1] / 1000,
                }
        _json(resp, falcon.HTTP_200, {"messages": doc})


def create_app(url: str) -> falcon.App[Any, Any]:
    """The floor's WSGI app on the database at ``url`` (a SQLAlchemy URL)."""
    sides = Sides(url)
    app = falcon.App()
    app.add_route("/v2/queues/{queue}/messages", Messages(sides))
    app.add_route("/v2/queues/{queue}/messages/{message_id}", Message(sides))
    app.add_route("/v2/queues/{queue}/claims", Claims(sides))
    app.add_route("/v2/queues/{queue}/stats", Stats(sides))
    app.add_route("/v2/ping", Ping())
    return app


class Ping:
    """``/v2/ping``: 204, for the bench's start-up poll."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_204


def worker_app(url: str, threads: int) -> WsgiFront:
    """One worker's front around the floor app (in the worker process)."""
    front = WsgiFront(
        create_app(url), threads=threads, max_body=MAX_BODY, body_timeout=BODY_TIMEOUT
    )
    return front


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    server = MPServer(
        target="floor",
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        workers=args.workers,
        http=HTTPModes.http1,
        websockets=False,
        log_enabled=False,
    )
    print(f"floor: listening on http://{args.host}:{args.port}", flush=True)
    server.serve(
        target_loader=functools.partial(worker_app, args.database_url, args.threads),
        wrap_loader=False,
    )
    return 0


class FloorServer(Server):
    """``floor_app.py`` in a subprocess on a free port (``Server``'s start, poll and stop)."""

    def __init__(self, database_url: str, workers: int, threads: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = log
        self.project = "floor"
        args = ["--database-url", database_url, "--host", HOST, "--port", str(self.port)]
        args += ["--workers", str(workers), "--threads", str(threads)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__)), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers = []


@contextmanager
def running_floor(database_url: str, workers: int, threads: int, log_dir: Path) -> Iterator[Server]:
    """The floor app serving ``database_url``, up and answering; stopped on exit."""
    server = FloorServer(database_url, workers, threads, log_dir / "floor.log")
    try:
        server.wait_until_up(workers)
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
