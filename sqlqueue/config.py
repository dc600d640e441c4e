"""Configuration: one frozen Settings object, built at the edge and passed down.

Sources, later ones winning: defaults, a TOML file (``SQLQUEUE_CONFIG`` or
``--config``), ``SQLQUEUE_*`` environment variables, command-line flags.
Nothing here is read at import time.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlqueue.domain.crypto import Keyring
from sqlqueue.domain.limits import Limits
from sqlqueue.errors import ValidationFailed

ENV_PREFIX = "SQLQUEUE_"
GC_RATE = 5000.0
DEFAULT_DENY_NETWORKS = ",".join(
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ]
)
"""Loopback, private, shared, link-local and unspecified addresses (IPv4-mapped
IPv6 addresses are checked as their IPv4 address)."""


def default_database_url() -> str:
    """A SQLite file in the user's data directory (the embedded default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'sqlqueue' / 'sqlqueue.db'}"


@dataclass(frozen=True)
class Settings:
    """Everything sqlqueue can be configured with."""

    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8888
    admin_port: int = 8889
    workers: int = 2
    threads: int = 2
    """Threads per worker: more hide a distant database's latency, fewer cost
    less CPU per request on a local one (bench/http_bench.py)."""
    admin_mode: bool = False
    noauth_admin: bool = True
    noauth_project: str = ""
    """The project of a request that sends no ``X-Project-Id``. Zaqar (and the
    default, empty) answers such a request 400 "Project-Id Missing"; the
    OpenStack CLI's ``--os-auth-type none`` cannot send the header at all
    (docs/openstack-cli.md), so a noauth deployment names the project here.
    Ignored under ``auth_strategy = "keystone"`` (the project is the token's)."""
    signed_url_secret: str = ""
    dashboard_refresh: float = 5.0
    """Seconds between refreshes of the admin dashboard's page (docs/dashboard.md)."""
    dashboard_queues: int = 200
    """Queues the dashboard's front page shows at most (the first by project and name)."""
    gc_interval: float = 60.0
    gc_rate: float = GC_RATE
    """Rows a second the collector deletes at most (0: no cap), so that a
    million messages expiring at once do not take the database from
    producers while they go (docs/maintenance.md)."""
    maintenance: bool = True
    """Whether the collector (``sqlqueue gc``, every serve worker's gc round) also
    vacuums/analyzes the churning tables, checkpoints and shrinks SQLite's files
    (docs/maintenance.md)."""
    maintenance_interval: float = 60.0
    """Seconds at least between two maintenance steps of one process."""
    maintenance_min_rows: int = 1000
    maintenance_fraction: float = 0.05
    """A table gets VACUUM (ANALYZE) once its dead rows pass ``maintenance_min_rows
    + maintenance_fraction x live rows``, ANALYZE once as many rows changed."""
    catalogue_cache_seconds: float = 5.0
    log_level: str = "INFO"
    log_format: str = "text"
    """``text`` (one readable line per record) or ``json`` (one JSON object per
    line; access lines carry request_id, project, queue, status, duration_ms)."""
    header_timeout: float = 20.0
    """Seconds a client has to send a whole request head (request line and
    headers) once it started one (docs/serving.md)."""
    keepalive_timeout: float = 20.0
    """Seconds an idle keep-alive connection is kept open waiting for the
    next request. Under granian one timer covers both waits (the larger of
    the two values is used). At most 60."""
    body_timeout: float = 30.0
    """Seconds a client has to send a whole request body once its head arrived
    (408 after)."""
    max_body_size: int = 1048576
    """Bytes of request body the server reads at most (413 above, before
    reading when Content-Length says so); at least the largest API limit."""
    max_connections: int = 1024
    """Open client connections across all workers; more wait in the listen
    backlog until one closes (backpressure)."""
    long_polls: int = 512
    """Long-poll requests (``?wait=``) one worker holds at once, each on a thread
    of its own that waits without CPU; more wait in line (docs/long-poll.md)."""

    # The websocket API (docs/websocket.md): `serve --websocket` / `--websocket-only`.
    websocket: bool = False
    websocket_only: bool = False
    """Serve the websocket API alone (no HTTP API)."""
    websocket_host: str = ""
    """Address of the websocket API; empty: the same as ``host``."""
    websocket_port: int = 9000
    websocket_max_connections: int = 1000
    websocket_max_frame_size: int = 524288
    """Bytes; a larger frame closes the socket (1009). Frames over the HTTP body
    limits plus 16 KiB of envelope get a 400 error frame."""
    websocket_send_buffer: int = 1048576
    """Bytes of frames queued for one client; a push that does not fit closes it (1008)."""
    websocket_ping_interval: float = 20.0
    websocket_ping_timeout: float = 20.0
    websocket_threads: int = 8
    """Storage threads of the websocket server."""
    websocket_poll_interval: float = 0.15
    """Seconds between polls of a queue with socket subscribers."""
    limits: Limits = field(default_factory=Limits)

    # Message bodies (docs/encryption.md)
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    """Keys for queues with ``_enable_encrypt_messages``: ``ID:BASE64KEY`` strings
    (32 random bytes each), newest first; the first encrypts, all decrypt (by
    id). A TOML list, or comma-separated in ``SQLQUEUE_ENCRYPTION_KEYS``. Empty:
    the flag is refused (400)."""
    enable_checksum: bool = False
    """Zaqar's ``enable_checksum``: message documents carry ``checksum``
    (``"MD5:<hex>"`` of the body's JSON)."""
    blob_store: str = ""
    """Where bodies above a queue's ``_blob_threshold`` go (docs/scaling.md): a
    database URL (migrated by ``sqlqueue db upgrade``; used only for bodies) or
    ``file:///a/directory`` for a single node. Empty: ``_blob_threshold`` is refused."""
    blob_grace: float = 300.0
    """Seconds a blob outlives its message's expiry before gc looks at it."""

    # Prometheus metrics (docs/operations.md)
    metrics_endpoint: str = "admin"
    """Which app answers ``GET /metrics``: ``admin`` (the admin API only: the
    gauges name queues), ``public`` (the public API too) or ``off``."""
    metrics_port: int = 0
    """Also serve the metrics on this port from ``sqlqueue serve``'s main process
    (0: no separate port); on ``metrics_host``."""
    metrics_host: str = ""
    """Address of ``metrics_port``; empty: the same as ``host``."""
    metrics_queues: int = 50
    """How many of the deepest queues get per-queue gauges (depth, oldest age)."""
    metrics_scrape_timeout: float = 5.0
    """Seconds one scrape may spend reading the storage's gauges."""
    metrics_dir: str = ""
    """Where the worker processes of ``sqlqueue serve`` write their metrics
    (emptied at start); empty: a private temporary directory per run."""

    # Notifications (docs/notifications.md)
    notify_in_serve: bool = True
    """Run delivery workers inside every ``sqlqueue serve`` worker process."""
    notify_threads: int = 8
    """Deliveries sent at once per process (a bounded thread pool)."""
    notify_per_subscription: int = 4
    """At most this many threads of a process send to one subscription at once."""
    notify_batch: int = 10
    """Deliveries of one subscription a thread sends in a row (within notify_timeout)."""
    notify_poll_interval: float = 0.5
    """Seconds an idle worker waits before looking at the outbox again."""
    notify_timeout: float = 10.0
    """Seconds one delivery (connect + answer, or one SMTP session) may take."""
    notify_require_confirmation: bool = False
    """Zaqar's ``require_confirmation``: deliver only to confirmed subscriptions."""
    notify_public_url: str = ""
    """Base URL of the API (e.g. https://queues.example.com): confirmation notices
    then carry the absolute ``WSGISubscribeURL``."""
    notify_confirmation_url: str = ""
    """Zaqar's ``external_confirmation_url``: the page linked from confirmation mails."""
    notify_deny_networks: str = DEFAULT_DENY_NETWORKS
    """Comma-separated networks webhooks may not reach."""
    notify_allow_networks: str = ""
    """Comma-separated exceptions to ``notify_deny_networks`` (e.g. 127.0.0.1/32)."""
    notify_max_retry_after: float = 3600.0
    """The longest ``Retry-After`` honoured, in seconds."""
    notify_keep_delivered: int = 3600
    """Seconds a delivered notification stays in the outbox (and in the counts)."""
    notify_keep_failed: int = 7 * 86400
    """Seconds a failed notification stays in the outbox for inspection."""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_security: str = "none"
    """``none``, ``starttls`` or ``ssl`` (implicit TLS)."""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    """Sender when a subscription's options carry no ``from``."""

    # Authentication (docs/auth.md)
    auth_strategy: str = "noauth"
    """``noauth`` (the project is the X-Project-Id header) or ``keystone``
    (keystonemiddleware's auth_token validates X-Auth-Token; the project and
    roles come from the token). Needs ``pip install 'sqlqueue[keystone]'``."""
    keystone_auth_url: str = ""
    """Keystone's identity endpoint for the service user, e.g. http://keystone:5000/v3."""
    keystone_www_authenticate_uri: str = ""
    """Where clients are sent to authenticate (the ``WWW-Authenticate`` header
    of a 401); empty: ``keystone_auth_url``."""
    keystone_username: str = ""
    """The service user that validates tokens (it needs the ``service`` or
    ``admin`` role in Keystone)."""
    keystone_password: str = ""
    keystone_project_name: str = "service"
    keystone_user_domain_name: str = "Default"
    keystone_project_domain_name: str = "Default"
    keystone_interface: str = "public"
    """The catalogue interface (public, internal, admin) auth_token validates tokens at."""
    keystone_region_name: str = ""
    keystone_cafile: str = ""
    """A CA bundle for an HTTPS Keystone; empty: the system's."""
    keystone_insecure: bool = False
    """Skip certificate checks on Keystone (never in production)."""
    keystone_memcached_servers: str = ""
    """Comma-separated host:port of memcached servers shared by every worker
    for validated tokens; empty: each worker caches its own in memory."""
    keystone_token_cache_time: int = 300
    """Seconds a validated token is cached before Keystone is asked again."""

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        config_file: str | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from a file, the environment and explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = config_file or env.get(ENV_PREFIX + "CONFIG")
        if path:
            values.update(_read_file(path))
        values.update(_from_env(env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build settings from plain values (strings are converted)."""
        top = {f.name: f for f in dataclasses.fields(cls)}
        lim = {f.name: f for f in dataclasses.fields(Limits)}
        kwargs: dict[str, Any] = {}
        limits: dict[str, Any] = dict(values.get("limits") or {})
        for key, value in values.items():
            if key == "limits":
                continue
            if key in top:
                kwargs[key] = _convert(top[key].type, value, key)
            elif key in lim:
                limits[key] = value
            else:
                raise ValidationFailed(f"Unknown configuration option: {key}")
        kwargs["limits"] = Limits(
            **{k: _convert(lim[k].type, v, k) for k, v in limits.items() if k in lim}
        )
        settings = cls(**kwargs)
        Keyring.parse(settings.encryption_keys)  # a malformed key fails here, once
        _check_collector(settings)
        if not settings.database_url:
            settings = dataclasses.replace(settings, database_url=default_database_url())
        return settings


def _check_collector(settings: Settings) -> None:
    """:raises ValidationFailed: a ``gc_rate`` below 0 or not a number."""
    rate = settings.gc_rate
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate >= 0:
        raise ValidationFailed(
            f"gc_rate must be 0 (no cap) or a number of rows per second above 0, not {rate!r}"
        )


def _read_file(path: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    flat = dict(data.get("sqlqueue", data))
    if "limits" in data:
        flat["limits"] = data["limits"]
    return flat


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(Settings)} | {
        f.name for f in dataclasses.fields(Limits)
    }
    found = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG":
            name = key[len(ENV_PREFIX) :].lower()
            if name in names and name != "limits":
                found[name] = value
    return found


def _convert(kind: Any, value: Any, key: str) -> Any:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if kind.startswith("tuple"):
        return _strings(value, key)
    if not isinstance(value, str) or kind == "str":
        return value
    try:
        if kind == "bool":
            return _parse_bool(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError as ex:
        raise ValidationFailed(f"Bad value for {key}: {value!r}") from ex
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    """A list option: a TOML list of strings, or one comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValidationFailed(f"Bad value for {key}: expected a list of strings")
    return tuple(item.strip() for item in items if item.strip())


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(value)
