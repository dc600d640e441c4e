"""The composition root: the one module that knows both storage.sql and transport."""

from __future__ import annotations

import dataclasses
import logging
import random
import secrets
from dataclasses import dataclass

from sqlalchemy import exc
from sqlalchemy.engine import Engine, make_url

from sqlqueue.config import Settings
from sqlqueue.control.admin import Admin
from sqlqueue.domain.bodies import BodyCodec
from sqlqueue.domain.clock import Clock, system_clock
from sqlqueue.domain.crypto import Keyring
from sqlqueue.domain.models import Pool
from sqlqueue.domain.moves import StepHook
from sqlqueue.errors import (
    BadDatabaseUrl,
    DatabaseAccessDenied,
    DatabaseMissing,
    DatabaseUnreachable,
)
from sqlqueue.storage.base import DataDriver, SingleStore, StorageOptions
from sqlqueue.storage.blobs import FILE_SCHEME, BlobStore, FileBlobStore
from sqlqueue.storage.pooling import DriverFactory, PooledStore
from sqlqueue.storage.sql import errors as sql_errors
from sqlqueue.storage.sql import schema
from sqlqueue.storage.sql.blobstore import SqlBlobStore
from sqlqueue.storage.sql.control import SqlControlDriver, SqlPoolDatabases, safe_url
from sqlqueue.storage.sql.driver import SqlDataDriver
from sqlqueue.storage.sql.engine import make_engine
from sqlqueue.storage.sql.moves import SqlMover
from sqlqueue.storage.sql.pools import persists
from sqlqueue.transport.wsgi import build_app, keystone
from sqlqueue.transport.wsgi.keystone import WsgiApp

logger = logging.getLogger(__name__)


def check_cli_urls(settings: Settings) -> None:
    """Refuse a database URL or blob store a command could not use, before it starts.

    :raises BadDatabaseUrl: malformed, a database sqlqueue does not run on, or
        SQLite in memory (each connection and process would see its own, empty).
    """
    sql_errors.check_file(settings.database_url, "--database-url")
    check_blob_store(settings.blob_store)


def check_blob_store(where: str) -> None:
    """Refuse a ``blob_store`` that is neither a directory nor a database on file.

    :raises BadDatabaseUrl: as ``check_cli_urls``, worded for ``blob_store``.
    """
    if not where or where.startswith(FILE_SCHEME):
        return
    try:
        make_url(where)
    except exc.ArgumentError as ex:
        raise BadDatabaseUrl(
            f"blob_store {sql_errors.safe_url(where)!r} is not a directory or database URL: "
            f"write it like file:///var/lib/sqlqueue/blobs or {sql_errors.URL_EXAMPLES}"
        ) from ex
    sql_errors.check_file(where, "blob_store")


def open_blob_store(settings: Settings) -> BlobStore | None:
    """The blob store ``settings.blob_store`` names (None: not configured).

    A database passes the schema gate as the catalogue does (a SQLite file
    is migrated; a server database must be upgraded with ``sqlqueue db upgrade``).

    :raises SchemaMismatch: :raises BadDatabaseUrl:
    """
    where = settings.blob_store
    if not where:
        return None
    if where.startswith(FILE_SCHEME):
        return FileBlobStore(where[len(FILE_SCHEME) :])
    check_blob_store(where)
    store = SqlBlobStore.from_url(where)
    _gate(store.db.engine, where)
    return store


def prepare_blob_store(settings: Settings) -> None:
    """The schema gate on the blob store's database, once, before workers start.

    As ``prepare_database`` for the catalogue: a SQLite file or an empty
    database is brought to the current schema here, so that the workers
    that open it next (``open_blob_store``) find it ready instead of racing
    to create it. Nothing to do for a directory or when not configured.

    :raises BadDatabaseUrl: :raises StorageUnavailable: as ``prepare_database``.
    """
    where = settings.blob_store
    if where and not where.startswith(FILE_SCHEME):
        schema.prepare(where)


def migrate_blob_store(settings: Settings, revision: str) -> str | None:
    """Migrate the blob store's database to ``revision`` (``db upgrade``); where it is.

    Nothing to do (None) when the blob store is a directory or not configured.
    """
    where = settings.blob_store
    if not where or where.startswith(FILE_SCHEME):
        return None
    check_blob_store(where)
    return schema.migrate_to(where, revision)


def storage_options(settings: Settings, blobs: BlobStore | None = None) -> StorageOptions:
    """The storage defaults that follow from the API limits, and how bodies are stored.

    ``blobs``: the blob store (``open_blob_store``), shared by every pool.

    :raises BadEncryptionKeys: ``settings.encryption_keys`` are malformed.
    """
    bodies = BodyCodec(Keyring.parse(settings.encryption_keys), settings.enable_checksum)
    return StorageOptions(
        default_message_ttl=settings.limits.default_message_ttl,
        require_confirmation=settings.notify_require_confirmation,
        keep_delivered=settings.notify_keep_delivered,
        keep_failed=settings.notify_keep_failed,
        bodies=bodies,
        blobs=blobs,
        gc_rate=settings.gc_rate,
        maintenance=settings.maintenance,
        maintenance_interval=settings.maintenance_interval,
        maintenance_min_rows=settings.maintenance_min_rows,
        maintenance_fraction=settings.maintenance_fraction,
    )


def create_driver(settings: Settings, *, clock: Clock = system_clock) -> DataDriver:
    """A data driver on ``settings.database_url``, through the schema gate."""
    engine = make_engine(settings.database_url)
    _gate(engine, settings.database_url)
    options = storage_options(settings, open_blob_store(settings))
    return SqlDataDriver(engine, clock=clock, options=options)


@dataclass(frozen=True)
class Storage:
    """Everything a process serves queues with: the catalogue, the default pool, the pools.

    The catalogue database (``settings.database_url``) is also the default
    pool, so with no pool registered every queue lives there as before.
    """

    control: SqlControlDriver
    default: SqlDataDriver
    store: PooledStore
    admin: Admin

    def close(self) -> None:
        """Close the pools' drivers, the blob store and the catalogue database's engine."""
        self.store.close()
        self.default.close()
        if self.store.blobs is not None:
            self.store.blobs.close()


def pool_driver_factory(
    settings: Settings, clock: Clock, blobs: BlobStore | None = None
) -> DriverFactory:
    """Opens the data driver of a pool (its bodies above thresholds in ``blobs``).

    ``options.fifo = false``: a non-FIFO driver; ``options.persist = false``:
    sessions that commit without waiting for the disk (``make_engine``).
    """
    defaults = storage_options(settings, blobs)

    def open_pool(pool: Pool) -> DataDriver:
        options = dataclasses.replace(
            defaults,
            fifo=pool.options.get("fifo", True) is not False,
            creates_dead_letter_queues=False,  # the catalogue places them
        )
        return SqlDataDriver.from_url(
            pool.uri, persist=persists(pool.options), clock=clock, options=options
        )

    return open_pool


def create_storage(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    prepare: bool = True,
    rng: random.Random | None = None,
    move_hook: StepHook | None = None,
) -> Storage:
    """The pooled storage on ``settings.database_url``.

    The catalogue database first passes the schema gate (a SQLite or empty
    database is migrated, a stale server database refused with the command
    that upgrades it), unless ``prepare`` is false, as when migrating by
    hand. ``rng`` draws placements (seed it in tests). ``move_hook`` is
    told each step of a queue move (tests stop the process there).
    """
    engine = make_engine(settings.database_url)
    if prepare:
        _gate(engine, settings.database_url)
    control = SqlControlDriver(engine, clock=clock)
    blobs = open_blob_store(settings)
    options = storage_options(settings, blobs)
    # Its dead-letter queues may be placed on pools: the pooled store decides.
    local = dataclasses.replace(options, creates_dead_letter_queues=False)
    default = SqlDataDriver(engine, clock=clock, options=local)
    pooled = PooledStore(
        control,
        pool_driver_factory(settings, clock, blobs),
        default,
        clock=clock,
        cache_seconds=settings.catalogue_cache_seconds,
        rng=rng,
        options=options,
    )
    pooled.blobs, pooled.blob_grace, pooled.blob_clock = blobs, settings.blob_grace, clock
    mover = SqlMover(
        control.db,
        pooled.router.driver,
        settle_seconds=settings.catalogue_cache_seconds,
        hook=move_hook,
    )
    admin = Admin(control, pooled, SqlPoolDatabases(), mover, clock)
    return Storage(control, default, pooled, admin)


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def describe(url: str) -> str:
    """Where the database is, without its password."""
    try:
        return sql_errors.describe(url)
    except exc.ArgumentError:
        return f"database {safe_url(url)}"


def prepare_database(settings: Settings, *, create: bool = True) -> schema.SchemaState:
    """The schema gate on the catalogue database (``storage.sql.schema``).

    A SQLite or empty database is brought to the current schema; with
    ``create`` false a SQLite file whose directory is missing is refused.

    :raises BadDatabaseUrl: the URL cannot be used.
    :raises StorageUnavailable: unreachable, missing, refused, or a stale
        schema (``SchemaMismatch``, naming the command that upgrades it).
    """
    return schema.prepare(settings.database_url, create=create)


def inspect_database(settings: Settings) -> schema.SchemaState:
    """The catalogue database's schema state, read only (errors as ``prepare_database``)."""
    return schema.inspect(settings.database_url)


def migrate_database(settings: Settings, revision: str, *, down: bool = False) -> str | None:
    """Migrate the catalogue database up (or ``down``) to ``revision``; where it is after.

    :raises ValidationFailed: an unknown revision or the wrong direction.
    :raises StorageUnavailable: as ``prepare_database``.
    """
    return schema.migrate_to(settings.database_url, revision, down=down)


def schema_differences(settings: Settings) -> str | None:
    """How the catalogue database's schema differs from the code's tables (None: it does not)."""
    return schema.model_differences(settings.database_url)


def _gate(engine: Engine, url: str) -> None:
    """The schema gate for a process about to serve: a stale schema is refused;
    a database that does not answer yet is served anyway (503 until it does),
    so a worker started during an outage recovers with the database.

    :raises SchemaMismatch: :raises BadDatabaseUrl:
    """
    try:
        _prepare(engine, sqlite=True)
    except (DatabaseUnreachable, DatabaseMissing, DatabaseAccessDenied) as ex:
        logger.warning("%s; answering 503 until it does", ex)


def _prepare(engine: Engine, *, sqlite: bool) -> None:
    """The schema gate on an open engine; ``sqlite``: a stale SQLite database may be upgraded."""
    with sql_errors.explained(engine.url):
        schema.ensure_current(engine, upgrade_sqlite=sqlite)


def signed_url_secret(settings: Settings) -> str:
    """The configured secret, or a random one for this process (logged)."""
    if settings.signed_url_secret:
        return settings.signed_url_secret
    logger.warning(
        "no signed_url_secret configured: using a random one; "
        "pre-signed URLs will not survive a restart"
    )
    return secrets.token_hex(32)


def check_auth(settings: Settings) -> None:
    """Refuse an authentication set-up that cannot work (before serving; docs/auth.md).

    :raises ValidationFailed: see ``transport.wsgi.keystone.check``.
    """
    keystone.check(settings)


def create_app(
    settings: Settings,
    *,
    driver: DataDriver | None = None,
    storage: Storage | None = None,
    clock: Clock | None = None,
) -> WsgiApp:
    """The WSGI app for ``settings`` (a SQLite database is upgraded on first start).

    By default the app routes queues to their pools (``create_storage``);
    given a bare ``driver`` it serves that driver alone, with no pools,
    flavors or catalogue routes. With ``auth_strategy = "keystone"`` it sits
    behind keystonemiddleware's auth_token (``transport.wsgi.keystone``).

    :raises ValidationFailed: an authentication set-up that cannot work.
    """
    keystone.check(settings)
    clock = clock or system_clock
    secret = signed_url_secret(settings)
    if driver is not None:
        single = SingleStore(driver)
        single.blobs = getattr(getattr(driver, "options", None), "blobs", None)
        single.blob_grace, single.blob_clock = settings.blob_grace, clock
        app = build_app(single, settings, secret=secret, clock=clock)
    else:
        storage = storage or create_storage(settings, clock=clock)
        app = build_app(storage.store, settings, secret=secret, clock=clock, admin=storage.admin)
    return keystone.protect(app, settings)
