"""What encrypted queues and checksums cost: storage throughput against plain queues.

Three variants run the same workload on one database, in interleaved rounds:

* ``plain`` (the floor): a queue without ``_enable_encrypt_messages``, no checksums;
* ``encrypted``: a queue with ``_enable_encrypt_messages`` (AES-256-GCM, a key
  derived per body, domain/crypto.py);
* ``checksums``: a plain queue read by a driver with ``enable_checksum``.

The workload posts ``--messages`` bodies of about 100 bytes in posts of 10,
then claims 10 and deletes them one by one until the queue is empty. What is
reported is this process's CPU time per message (the codec runs here; wall
time on a shared machine is mostly the database's commits and too noisy to
compare), best round of each variant; ``ratio`` = variant / plain (1.00 =
free). A second table times the codec alone per body (store + load), against
``json.loads`` + ``json.dumps`` of the same body as the floor.

Usage::

    python bench/bodies_bench.py [--backends sqlite,postgresql] [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.databases import DEFAULT_URLS, fresh_database
from harness.workload import bodies

from sqlqueue.domain.bodies import BodyCodec
from sqlqueue.domain.crypto import Keyring
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.base import StorageOptions
from sqlqueue.storage.sql.driver import SqlDataDriver

PROJECT, CLIENT = "bench", "0" * 32
KEY = f"bench:{base64.b64encode(os.urandom(32)).decode()}"
VARIANTS = {
    "plain": (BodyCodec(), {}),
    "encrypted": (BodyCodec(Keyring.parse([KEY])), {"_enable_encrypt_messages": True}),
    "checksums": (BodyCodec(checksums=True), {}),
}


def workload(driver: SqlDataDriver, queue: str, messages: int) -> float:
    """CPU seconds of this process to post ``messages`` (by 10) and claim + delete them all."""
    started = time.process_time()
    for start in range(0, messages, 10):
        batch = [NewMessage(b, ttl=3600) for b in bodies(start, 10)]
        driver.messages.post(PROJECT, queue, batch, CLIENT)
    while True:
        claim_id, taken = driver.claims.create(PROJECT, queue, ttl=300, grace=60, limit=10)
        if not taken:
            break
        for msg in taken:
            driver.messages.delete(PROJECT, queue, msg.id, claim_id)
    return time.process_time() - started


def storage_rows(backend: str, messages: int, rounds: int) -> list[str]:
    """One table row per variant on ``backend``."""
    with fresh_database(backend, DEFAULT_URLS, "sqlqueue_bodies_bench") as db:
        drivers = {}
        for name, (codec, meta) in VARIANTS.items():
            drivers[name] = SqlDataDriver(db.engine, options=StorageOptions(bodies=codec))
            drivers[name].queues.create(PROJECT, name, meta)
        best = {name: float("inf") for name in VARIANTS}
        for done in range(rounds + 1):  # the first round warms up, untimed
            for name, driver in drivers.items():
                seconds = workload(driver, name, messages)
                if done:
                    best[name] = min(best[name], seconds)
            db.settle()
    micros = {name: best[name] / messages * 1e6 for name in VARIANTS}
    return [
        f"| {backend} | {name} | {micros[name]:.0f} | {micros[name] / micros['plain']:.2f} |"
        for name in VARIANTS
    ]


def per_body(step: Callable[[], object], count: int = 20000) -> float:
    """Microseconds per call of ``step``, best of 3."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(count):
            step()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def codec_rows() -> list[str]:
    """Store + load of one body per variant, against json.dumps + json.loads."""
    body = bodies(0, 1)[0]
    text = json.dumps(body, separators=(",", ":"))
    floor = per_body(lambda: json.loads(json.dumps(body)))
    rows = [f"| floor (json) | {floor:.1f} | 1.00 |"]
    for name, (codec, meta) in VARIANTS.items():
        encrypt = bool(meta)

        def step(codec: BodyCodec = codec, encrypt: bool = encrypt) -> object:
            [stored] = codec.store([text], encrypt=encrypt)
            loaded = codec.load(stored)
            return codec.checksum(loaded)

        micros = per_body(step)
        rows.append(f"| {name} | {micros:.1f} | {micros / floor:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("| backend | variant | CPU us per message (post x10, claim 10, delete) | ratio |")
    print("|---|---|---|---|")
    for backend in args.backends.split(","):
        for row in storage_rows(backend, args.messages, args.rounds):
            print(row, flush=True)
    print()
    print("| codec, one ~100-byte body | us per store + load | ratio to floor |")
    print("|---|---|---|")
    for row in codec_rows():
        print(row)


if __name__ == "__main__":
    main()
