"""The command line's long work, with progress: ``db upgrade`` over every database, ``gc``.

Both count units of work on a ``progress.Tracker`` (a bar on a terminal)
and stop at a unit boundary on Ctrl-C (``progress.deferred``): a database's
whole migration, a gc batch (one transaction). Each prints its summary line
on stdout and returns the exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sqlqueue import bootstrap, progress
from sqlqueue.config import Settings
from sqlqueue.domain.models import Pool
from sqlqueue.errors import SqlqueueError

EXIT_INTERRUPTED = 130


def upgrade(settings: Settings, revision: str, mode: str) -> int:
    """Migrate the catalogue database, then every registered pool; 1 if a pool failed.

    :raises StorageUnavailable: the catalogue database cannot be migrated.
    """
    with progress.deferred("finishing the database being migrated, then stopping") as interrupt:
        reached = bootstrap.migrate_database(settings, revision)
        print(f"{bootstrap.describe(settings.database_url)} is at {reached or '(empty database)'}")
        blobs_at = bootstrap.migrate_blob_store(settings, revision)
        if blobs_at is not None:
            print(f"blob store {bootstrap.describe(settings.blob_store)} is at {blobs_at}")
        storage = bootstrap.create_storage(settings, prepare=False)
        try:
            pools = storage.admin.pools.all()
            with progress.Tracker("db upgrade", "databases", len(pools) + 1, mode) as tracker:
                tracker.advance(1, note="catalogue")
                failed = _upgrade_pools(storage, pools, revision, tracker, interrupt)
        except progress.Interrupted:
            print(
                f"sqlqueue: interrupted: {tracker.done} of {tracker.total} databases upgraded "
                "(each one whole); run the same command again to upgrade the rest",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        finally:
            storage.close()
    print(
        f"upgraded the catalogue and {len(pools) - failed} of {len(pools)} pools to "
        f"{reached or revision} in {tracker.elapsed:.1f} s"
        + (f"; {failed} failed" if failed else "")
    )
    return 1 if failed else 0


def _upgrade_pools(
    storage: bootstrap.Storage,
    pools: Sequence[Pool],
    revision: str,
    tracker: progress.Tracker,
    interrupt: progress.Interrupt,
) -> int:
    """Migrate each pool in turn (stopping between two on Ctrl-C); how many failed."""
    failed = 0
    for pool in pools:
        interrupt.check()
        where = bootstrap.describe(pool.uri)
        try:
            print(f"pool {pool.name} ({where}) is at {storage.admin.upgrade_pool(pool, revision)}")
        except SqlqueueError as ex:
            print(f"pool {pool.name} ({where}) FAILED: {ex}", file=sys.stderr)
            failed += 1
        tracker.advance(1, note=pool.name)
    return failed


def gc(settings: Settings, mode: str) -> int:
    """Collect expired rows in the catalogue database and every pool that answers.

    With progress shown, the backlog is counted first (for the time left).
    """
    storage = bootstrap.create_storage(settings, prepare=False)
    try:
        total = storage.store.gc_backlog() if mode != progress.OFF else None
        with (
            progress.deferred("finishing the batch being deleted, then stopping") as interrupt,
            progress.Tracker("gc", "rows", total, mode) as tracker,
        ):

            def step(removed: int) -> None:
                tracker.advance(removed)
                interrupt.check()

            removed = storage.store.gc(step)
        maintained = _maintenance(settings, storage)
    except progress.Interrupted:
        print(
            f"sqlqueue: interrupted: removed {tracker.done} expired rows (whole batches); "
            "run sqlqueue gc again to remove the rest",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        storage.close()
    print(f"removed {removed} expired rows")
    print(maintained)
    return 0


def _maintenance(settings: Settings, storage: bootstrap.Storage) -> str:
    """The maintenance step over every database, as one line (docs/maintenance.md)."""
    if not settings.maintenance:
        return "maintenance: off"
    return "maintenance: " + ("; ".join(storage.store.maintain()) or "nothing due")
