"""The schema: SQLAlchemy Core tables, the one source Alembic migrates to.

Times are integer milliseconds since the epoch, computed in Python from the
injected clock: the same arithmetic on every database (no dialect interval
math) and exact comparisons. JSON documents are stored as text we encode
ourselves, so the three databases store and reflect one type.

Indexes, chosen for the hot queries:

* ``uq_messages_queue_id_marker (queue_id, marker)``: listing by marker,
  claiming oldest-first, first/last, stats' oldest/newest, and the FIFO
  guarantee itself (a marker is never reused within a queue).
* ``ix_messages_claim_id (claim_id)``: claim get/update/release and delete
  with a claim id touch only that claim's rows. Partial (``WHERE claim_id
  IS NOT NULL``) on PostgreSQL and SQLite: it holds the claimed messages
  only, so posts and claims do not churn a run of NULL entries.
* ``ix_messages_queue_id_expires_at (queue_id, expires_at)``: the expiry
  clean-up deletes a queue's expired rows by range, and stats counts the
  expired rows the clean-up has not reached yet.
* ``ix_messages_queue_id_claim_expires (queue_id, claim_expires)``: stats
  counts a queue's claimed messages over the claimed range only. Partial
  (``WHERE claim_expires > 0``) on PostgreSQL and SQLite: it holds only
  messages a claim ever held, so a claim at the head of a deep queue writes
  ten new entries instead of moving ten out of a run of a million zeros; a
  query that wants it says ``claim_expires > 0`` too (``CLAIM_EVER``).
* ``ix_claims_queue_id_expires_at``: the same clean-up for claims.
* ``ix_deliveries_state_due_at``: the notification workers take due
  deliveries oldest first; ``ix_deliveries_subscription_id_state``: the
  per-subscription delivery counts. A finished row's ``due_at`` is when gc
  may delete it, so gc uses the first index too (one index less to write per
  posted notification).
* ``uq_queues_project_name``: every queue-scoped request resolves its queue
  by (project, name).

Every index on messages and claims starts with the queue (or is a primary
key or a claim id), so no query of one queue can be planned over another
queue's rows or over the whole table's dead and expired entries. A lone
``expires_at`` index used to invite PostgreSQL to AND it into live queries
and walk every dead entry of the table (docs/performance.md, depth).

Stats do not count rows: ``queues.message_rows`` plus the ``delta`` of the
queue's ``queue_counters`` shards is the number of message rows the queue
has (storage/sql/counters.py).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from sqlqueue.domain.namespaces import KEY_LENGTH

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Integer keys: BIGINT on servers, INTEGER on SQLite (where only an
# INTEGER PRIMARY KEY is the rowid and autoincrements).
Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Documents up to 256 KiB: MySQL's TEXT stops at 64 KiB.
Document = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Millis = sa.BigInteger
# MySQL: InnoDB (row locks, SKIP LOCKED) and full Unicode whatever the
# server's default character set.
# Identifiers compare and sort byte-wise everywhere (queue "Foo" is not
# "foo"; listings page in the same order on every pool): MySQL's default
# collation is case-insensitive, so tables use utf8mb4_bin.
MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
# Queue names sort byte-wise on PostgreSQL too, whatever the database locale.
# They hold keys: a queue's name, or a topic's behind its mark (65 characters,
# domain/namespaces.py), so the two namespaces are two key ranges.
QueueName = sa.String(KEY_LENGTH).with_variant(
    postgresql.VARCHAR(KEY_LENGTH, collation="C"), "postgresql"
)

CLAIM_EVER = sa.text("claim_expires > 0")
"""The partial claim-expiry index's condition (PostgreSQL, SQLite)."""

queues = sa.Table(
    "queues",
    metadata,
    sa.Column("id", Key, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(256), nullable=False),
    sa.Column("name", QueueName, nullable=False),
    sa.Column("meta", Document, nullable=False),
    # The FIFO counter: the marker the next posted message gets. Bumped in
    # the posting transaction, so marker order is commit order.
    sa.Column("next_marker", sa.BigInteger, nullable=False),
    # Message rows added by posts, bumped with next_marker in the same
    # statement; removals are counted in queue_counters (storage/sql/counters.py).
    sa.Column("message_rows", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    # Until when the queue may have live subscriptions (the latest expiry of
    # one): a post adds outbox rows only while it is in the future. Raised by
    # every subscription write, never lowered by one (a stale high value costs
    # one empty INSERT ... SELECT); NULL = unknown, computed by the next post.
    sa.Column("notify_until", Millis, nullable=True),
    # A tombstone: the queue was moved to this pool (storage/sql/moves.py).
    # The row stays so that a worker whose cached placement still names this
    # pool is redirected instead of writing here; NULL for a live queue.
    sa.Column("moved_to", sa.String(64), nullable=True),
    sa.UniqueConstraint("project", "name"),
    sqlite_autoincrement=True,
    **MYSQL,
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", Key, primary_key=True, autoincrement=True),
    # No foreign key to queues, on purpose: on MySQL/MariaDB a foreign-key
    # check takes a shared lock on the parent queue row until commit, which
    # would serialise claims and posts of one queue against each other (the
    # counter bump needs that row exclusively). Queue deletion removes the
    # children explicitly instead (storage/sql/queues.py).
    sa.Column("queue_id", Key, nullable=False),
    sa.Column("marker", sa.BigInteger, nullable=False),
    sa.Column("body", Document, nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("ttl", sa.Integer, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Column("delay_until", Millis, nullable=False),
    # Claim state lives on the row: claimed iff claim_expires > now, so an
    # expired claim frees its messages with no sweeper.
    sa.Column("claim_id", sa.String(32), nullable=True),
    sa.Column("claim_expires", Millis, nullable=False),
    sa.Column("claim_count", sa.Integer, nullable=False),
    sa.UniqueConstraint("queue_id", "marker"),
    # Claimed messages only (PostgreSQL, SQLite): posts, and claims at the head
    # of a deep queue, do not churn a run of NULL entries (migration 0009).
    sa.Index(
        None,
        "claim_id",
        postgresql_where=sa.text("claim_id IS NOT NULL"),
        sqlite_where=sa.text("claim_id IS NOT NULL"),
    ),
    sa.Index(None, "queue_id", "expires_at"),
    # Messages ever claimed only (PostgreSQL, SQLite): a claim at the head of a
    # deep queue does not move entries out of a run of zeros (migration 0012).
    sa.Index(
        None,
        "queue_id",
        "claim_expires",
        postgresql_where=CLAIM_EVER,
        sqlite_where=CLAIM_EVER,
    ),
    sqlite_autoincrement=True,
    **MYSQL,
)

claims = sa.Table(
    "claims",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("queue_id", Key, nullable=False),  # no FK: see messages
    sa.Column("ttl", sa.Integer, nullable=False),
    sa.Column("grace", sa.Integer, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Index(None, "queue_id", "expires_at"),
    **MYSQL,
)

queue_counters = sa.Table(
    "queue_counters",
    metadata,
    # Message rows a queue gained or lost outside a post's counter bump
    # (deletes, pops, dead-lettering, expiry clean-up), spread over a few
    # shard rows so concurrent consumers do not queue on one row lock.
    sa.Column("queue_id", Key, primary_key=True, autoincrement=False),  # no FK: see messages
    sa.Column("shard", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("delta", sa.BigInteger, nullable=False),
    **MYSQL,
)

pools = sa.Table(
    "pools",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("uri", sa.String(255), nullable=False, unique=True),
    sa.Column("weight", sa.BigInteger, nullable=False),
    sa.Column("flavor", sa.String(64), nullable=True),
    sa.Column("options", sa.Text, nullable=False),
    **MYSQL,
)

flavors = sa.Table(
    "flavors",
    metadata,
    sa.Column("id", Key, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(256), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("capabilities", sa.Text, nullable=False),
    sa.UniqueConstraint("project", "name"),
    **MYSQL,
)

catalogue = sa.Table(
    "catalogue",
    metadata,
    sa.Column("id", Key, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(256), nullable=False),
    sa.Column("queue", QueueName, nullable=False),
    sa.Column("pool", sa.String(64), sa.ForeignKey("pools.name"), nullable=False, index=True),
    sa.UniqueConstraint("project", "queue"),
    **MYSQL,
)

# The journal of queue moves, in the catalogue database: one row per move in
# progress, so that a move cut short (kill -9) is completed or rolled back by
# the next ``sqlqueue queue move --resume`` (storage/sql/moves.py).
moves = sa.Table(
    "moves",
    metadata,
    sa.Column("project", sa.String(256), primary_key=True),
    sa.Column("queue", QueueName, primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("target", sa.String(64), nullable=False),
    # The name of the queue row the target holds the pre-copy under.
    sa.Column("staging", sa.String(64), nullable=False),
    sa.Column("started_at", Millis, nullable=False),
    **MYSQL,
)

# Message key blocks, in the catalogue database: pool ``pool`` issues message
# ids from ``block << 40`` on, so that no two pools issue the same id and a
# moved queue keeps its ids in any pool (storage/sql/moves.py). Block 0 is
# the ids databases issued before they were given a block.
id_blocks = sa.Table(
    "id_blocks",
    metadata,
    sa.Column("pool", sa.String(64), primary_key=True),
    sa.Column("block", sa.BigInteger, nullable=False, unique=True),
    **MYSQL,
)

# Message bodies above a queue's _blob_threshold, in the database named by the
# ``blob_store`` setting (every database has the empty table: one schema). The
# key is random and written in the message row's pointer, so it does not depend
# on the pool holding the row (storage/blobs.py); project and queue tell gc
# whom to ask whether the blob is still needed once ``expires_at`` has passed.
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(256), nullable=False),
    sa.Column("queue", QueueName, nullable=False),
    sa.Column("body", Document, nullable=False),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Index(None, "expires_at"),
    **MYSQL,
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(256), nullable=False),
    sa.Column("source", sa.String(KEY_LENGTH), nullable=False),  # a queue or topic key
    sa.Column("subscriber", sa.String(1024), nullable=False),
    sa.Column("ttl", sa.Integer, nullable=False),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("confirmed", sa.Boolean, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=False, index=True),
    sa.Index(None, "project", "source"),
    **MYSQL,
)

# The notification outbox: one row per (message, subscription) written in the
# posting transaction, plus confirmation notices. Rows are taken by leasing
# them (``due_at`` moved past the send's timeout), so a worker that dies
# leaves its rows due again: delivery is at least once.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", Key, primary_key=True, autoincrement=True),
    sa.Column("subscription_id", sa.String(32), nullable=False),
    sa.Column("project", sa.String(256), nullable=False),
    sa.Column("queue", QueueName, nullable=False),
    # "notification", "confirm" or "unconfirm"
    sa.Column("kind", sa.String(16), nullable=False),
    # The message's key (no FK: the message may be claimed and deleted before
    # its notification goes out; body and ttl are captured here).
    sa.Column("message_id", Key, nullable=True),
    sa.Column("body", Document, nullable=False),
    sa.Column("ttl", sa.Integer, nullable=False),
    # 0 pending, 1 delivered, 2 failed (retries exhausted or refused)
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # pending: when the next attempt is due (or the lease ends);
    # delivered/failed: when gc may delete the row
    sa.Column("due_at", Millis, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("last_error", sa.String(512), nullable=True),
    sa.Index(None, "state", "due_at"),
    sa.Index(None, "subscription_id", "state"),
    sqlite_autoincrement=True,
    **MYSQL,
)
