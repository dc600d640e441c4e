"""The process-wide Prometheus metrics of sqlqueue (counters, histograms, one gauge).

Names follow Prometheus conventions: the ``sqlqueue_`` prefix, base units
(seconds), ``_total`` on counters. Labels are bounded: a route label is the
route's URI template (``/v2/queues/{queue_name}/messages``), never the raw
path, so cardinality does not grow with queue names.

Every worker process of ``sqlqueue serve`` counts in its own files under
the multiprocess directory (``observe.multiprocess``), and a scrape sums
them. That directory must be set before this module is imported, since
``prometheus_client`` picks its value storage then.

Counting happens where the event is certain: storage counts what a
committed transaction did (``storage.sql.tally``), the HTTP middleware
counts answered requests, the delivery worker counts sends. The gauges of
queue depth and age are not here: they are read from storage at scrape
time (``observe.gauges``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call] # the *_created series say when a process started: noise here

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
)  # fmt: skip
"""Seconds; up to 30 so that long-polls (``wait`` up to 20 s) land in a bucket."""
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
"""Seconds from a notification's creation to its delivery (retries take minutes)."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other is ``other`` (clients choose methods freely)."""
UNMATCHED = "unmatched"
"""The route label of a path no route matches."""
FRONT = "front"
"""The route label of a request the server's front refused before the app (408, 413)."""


def method_label(method: str) -> str:
    """The ``method`` label of a request's method (bounded: see ``METHODS``)."""
    return method if method in METHODS else "other"


HTTP_REQUESTS = Counter(
    "sqlqueue_http_requests",
    "HTTP requests answered by the API, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "sqlqueue_http_request_duration_seconds",
    "Time from a request reaching the app to its answer, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

MESSAGES_POSTED = Counter("sqlqueue_messages_posted", "Messages posted (committed).")
MESSAGES_CLAIMED = Counter("sqlqueue_messages_claimed", "Messages taken by claims.")
MESSAGES_DELETED = Counter(
    "sqlqueue_messages_deleted", "Messages deleted by consumers (delete, bulk delete, pop)."
)
MESSAGES_EXPIRED = Counter(
    "sqlqueue_messages_expired", "Messages removed by garbage collection after their TTL."
)
MESSAGES_DEAD_LETTERED = Counter(
    "sqlqueue_messages_dead_lettered",
    "Messages moved to a dead-letter queue after _max_claim_count claims.",
)
CLAIMS_CREATED = Counter("sqlqueue_claims_created", "Claims that took at least one message.")
CLAIMS_EXPIRED = Counter(
    "sqlqueue_claims_expired", "Claims removed by garbage collection after their TTL."
)

DATABASE_ERRORS = Counter(
    "sqlqueue_database_errors",
    "Database failures taken for unavailability (refused, lost or timed-out connections, "
    "an exhausted connection pool): what a request answers 503 for.",
)
DATABASE_RETRIES = Counter(
    "sqlqueue_database_retries",
    "Transactions run again after a deadlock, lock timeout or serialization failure.",
)

NOTIFICATIONS = Counter(
    "sqlqueue_notification_deliveries",
    "Notification sends by outcome: delivered, retry (failed, tried again later), "
    "failed (for good), dropped (subscription gone or unconfirmed).",
    ["outcome"],
)
NOTIFICATION_LAG = Histogram(
    "sqlqueue_notification_lag_seconds",
    "Time from a notification's creation (its message's post) to its delivery.",
    buckets=LAG_BUCKETS,
)

LONGPOLL_WAITERS = Gauge(
    "sqlqueue_longpoll_waiters",
    "Requests waiting in a long-poll (?wait=N), summed over the live processes.",
    multiprocess_mode="livesum",
)
