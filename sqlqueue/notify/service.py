"""Starting delivery workers: inside ``sqlqueue serve`` workers or as ``sqlqueue notify``.

``databases_of`` is the one place that turns the storage a process serves
into the list of per-database data drivers whose outboxes it delivers (the
default database and every registered pool, as gc walks them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlqueue import errors
from sqlqueue.config import Settings
from sqlqueue.notify import payloads
from sqlqueue.notify.senders import NetworkGuard, SmtpConfig, SmtpSender, networks
from sqlqueue.notify.worker import Notifier, WorkerConfig
from sqlqueue.storage.base import DataDriver, QueueStore

logger = logging.getLogger(__name__)


def databases_of(store: QueueStore) -> Callable[[], list[DataDriver]]:
    """The per-database drivers behind ``store``, looked up afresh on every call.

    This is the one hook into storage: ``QueueStore.databases()``, the list gc
    walks (the default database and every registered pool). Pools that cannot
    be opened are skipped until they can.
    """

    def found() -> list[DataDriver]:
        out: list[DataDriver] = []
        for opener in store.databases():
            try:
                out.append(opener())
            except errors.StorageUnavailable as ex:
                logger.warning("notifications skipped an unavailable pool: %s", ex)
        return out

    return found


def worker_config(settings: Settings) -> WorkerConfig:
    """The worker configuration that follows from ``settings``.

    :raises ValidationFailed: a network in ``notify_deny_networks`` or
        ``notify_allow_networks`` does not parse.
    """
    try:
        guard = NetworkGuard(
            networks(settings.notify_deny_networks), networks(settings.notify_allow_networks)
        )
    except ValueError as ex:
        raise errors.ValidationFailed(f"Bad network in notify_*_networks: {ex}") from ex
    signer = payloads.Signer(
        secret=settings.signed_url_secret,
        default_subscription_ttl=settings.limits.default_subscription_ttl,
        public_url=settings.notify_public_url,
        confirmation_url=settings.notify_confirmation_url,
    )
    return WorkerConfig(
        signer=signer,
        threads=max(1, settings.notify_threads),
        per_subscription=max(0, settings.notify_per_subscription),
        batch=max(1, settings.notify_batch),
        poll_interval=settings.notify_poll_interval,
        timeout=settings.notify_timeout,
        require_confirmation=settings.notify_require_confirmation,
        max_retry_after=settings.notify_max_retry_after,
        smtp_sender=settings.smtp_from,
        guard=guard,
    )


def smtp_config(settings: Settings) -> SmtpConfig:
    """The SMTP server of ``settings``."""
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security.lower(),
        user=settings.smtp_user,
        password=settings.smtp_password,
    )


def notifier(settings: Settings, store: QueueStore) -> Notifier:
    """A (not yet started) worker delivering the outboxes of every database of ``store``."""
    config = worker_config(settings)
    smtp = SmtpSender(smtp_config(settings), config.timeout)
    return Notifier(databases_of(store), config, smtp=smtp)


def start_notifier(settings: Settings, store: QueueStore) -> Notifier | None:
    """Start a worker in this process unless ``notify_in_serve`` is off.

    Give it a store of its own, not the API's: walking every pool each round
    keeps a store's pool-list cache warm, and an API store whose cache was
    filled just before a pool was registered would place new queues by the
    stale list for up to ``catalogue_cache_seconds``.
    """
    if not settings.notify_in_serve:
        return None
    return notifier(settings, store).start()


def run_until(settings: Settings, store: QueueStore, stop: threading.Event) -> None:
    """Deliver in the calling thread's process until ``stop`` is set."""
    worker = notifier(settings, store).start()
    try:
        stop.wait()
    finally:
        worker.stop()
