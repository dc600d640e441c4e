"""The blob store on a database: table ``blobs`` (migration 0011), used only for bodies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sqlqueue.storage.blobs import Blob, BlobOwner, BlobStore
from sqlqueue.storage.sql.database import Database
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.tables import blobs

CHUNK = 200
"""Keys per statement (an IN list)."""


class SqlBlobStore(BlobStore):
    """Bodies in one database's ``blobs`` table; every call is one short transaction.

    :raises StorageUnavailable: (every method) the database failed.
    """

    def __init__(self, engine: Engine) -> None:
        self.db = Database(engine)

    @classmethod
    def from_url(cls, url: str) -> SqlBlobStore:
        """A store on the database at ``url`` (its schema upgraded by ``sqlqueue db upgrade``)."""
        return cls(make_engine(url))

    def put(self, items: Sequence[Blob]) -> None:
        rows = [
            {
                "id": b.key,
                "project": b.project,
                "queue": b.queue,
                "body": b.text,
                "expires_at": b.expires_at,
            }
            for b in items
        ]
        if rows:
            self.db.run(lambda conn: conn.execute(sa.insert(blobs), rows))

    def get(self, keys: Sequence[str]) -> dict[str, str]:
        def work(conn: Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for part in _chunks(keys):
                query = sa.select(blobs.c.id, blobs.c.body).where(blobs.c.id.in_(part))
                found.update({row.id: row.body for row in conn.execute(query)})
            return found

        return self.db.run(work, write=False) if keys else {}

    def delete(self, keys: Sequence[str]) -> None:
        def work(conn: Connection) -> None:
            self._relaxed(conn)
            for part in _chunks(sorted(keys)):  # sorted: no deadlock between two deleters
                conn.execute(sa.delete(blobs).where(blobs.c.id.in_(part)))

        if keys:
            self.db.run(work)

    def expired(self, before: int, limit: int) -> list[BlobOwner]:
        query = (
            sa.select(blobs.c.id, blobs.c.project, blobs.c.queue)
            .where(blobs.c.expires_at < before)
            .order_by(blobs.c.expires_at)
            .limit(limit)
        )
        found = self.db.run(lambda conn: conn.execute(query).all(), write=False)
        return [BlobOwner(row.id, row.project, row.queue) for row in found]

    def extend(self, until: Mapping[str, int]) -> None:
        def work(conn: Connection) -> None:
            for key in sorted(until):
                stmt = sa.update(blobs).where(blobs.c.id == key)
                conn.execute(stmt.values(expires_at=until[key]))

        if until:
            self.db.run(work)

    def _relaxed(self, conn: Connection) -> None:
        """PostgreSQL: do not wait for this transaction's WAL flush. A delete lost in
        a database crash leaves an orphan, which gc removes (storage/blobgc.py)."""
        if self.db.backend == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    def close(self) -> None:
        self.db.dispose()


def _chunks(keys: Sequence[str]) -> list[list[str]]:
    return [list(keys[i : i + CHUNK]) for i in range(0, len(keys), CHUNK)]
