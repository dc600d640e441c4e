"""per-table autovacuum settings for the churning tables (PostgreSQL)

A queue's tables churn: every message is inserted, updated by its claim and
deleted within minutes, and every post rewrites its queue's row. With
PostgreSQL's defaults autovacuum waits for 20% of a table to be dead (200k
dead rows in a 1M-row table) and analyzes after 10% changed, so the dead
index entries at the head of a deep queue pile up in front of every claim
and listing (docs/maintenance.md). Here each churning table is vacuumed
after a fixed number of dead rows plus 1% of its live rows, analyzed after
2%, without the cost-based sleeps that make a manual-speed vacuum fall
behind, and the small hot-updated tables keep half of each page free so
their updates stay HOT (in place, no index entry).

MySQL/MariaDB (InnoDB purges deleted rows in the background) and SQLite
have no per-table settings: there this revision changes nothing. The
collector's maintenance step (storage/sql/maintenance.py) works on every
backend, autovacuum or not.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_TABLE = {
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_threshold": "10000",
    "autovacuum_vacuum_insert_scale_factor": "0.05",
    "autovacuum_analyze_threshold": "1000",
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_vacuum_cost_delay": "0",
}
"""Messages, claims and the delivery outbox: rows come and go by the thousand."""
HOT_TABLE = {
    "fillfactor": "50",
    "autovacuum_vacuum_threshold": "500",
    "autovacuum_vacuum_scale_factor": "0",
    "autovacuum_analyze_threshold": "500",
    "autovacuum_analyze_scale_factor": "0.05",
    "autovacuum_vacuum_cost_delay": "0",
}
"""Queues (every post bumps its row) and queue_counters (every delete bumps a shard):
few rows, rewritten all the time."""
SETTINGS = {
    "messages": QUEUE_TABLE,
    "claims": QUEUE_TABLE,
    "deliveries": QUEUE_TABLE,
    "queues": HOT_TABLE,
    "queue_counters": HOT_TABLE,
}
INSERT_SETTINGS_FROM = 13
"""``autovacuum_vacuum_insert_*`` exist from PostgreSQL 13 on."""


def _settings(table: str) -> dict[str, str]:
    version = op.get_bind().dialect.server_version_info or (0,)
    return {
        name: value
        for name, value in SETTINGS[table].items()
        if "insert" not in name or version[0] >= INSERT_SETTINGS_FROM
    }


def upgrade() -> None:
    """Set the storage parameters (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in SETTINGS:
        options = ", ".join(f"{name} = {value}" for name, value in _settings(table).items())
        op.execute(f"ALTER TABLE {table} SET ({options})")


def downgrade() -> None:
    """Reset them to the server's defaults (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in SETTINGS:
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(_settings(table))})")
