"""The delivery worker: leases due rows from every database's outbox and sends them.

One loop thread per process leases due rows and hands them to a bounded
thread pool as *tasks*: up to ``batch`` rows of one subscription, sent one
after the other over a kept-alive connection. A subscription never has more
than ``per_subscription`` tasks in flight, so a slow or dead subscriber holds
a few threads at most and never delays posts, other subscribers or other
queues. A task stops after ``timeout`` seconds of sending or at its first
failure that is worth retrying, and gives its unsent rows back untouched, so
every task ends within twice the timeout, inside its rows' lease. Each row
is one message to one subscriber, retried on its own by the retry policy; a
row leased by a process that dies is due again when its lease ends (at
least once).

The sending threads never touch the database: they hand their results to
the loop thread, which records them in one transaction per round before
taking more rows (one writer per process: no lock contention on SQLite).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlqueue import errors
from sqlqueue.domain.models import Delivery, DeliveryResult
from sqlqueue.notify import payloads, policy
from sqlqueue.notify.senders import (
    HttpSender,
    NetworkGuard,
    Outcome,
    SmtpConfig,
    SmtpSender,
    final,
)
from sqlqueue.observe.metrics import NOTIFICATION_LAG, NOTIFICATIONS
from sqlqueue.storage.base import DataDriver, DeliveryController

logger = logging.getLogger(__name__)

LEASE_MARGIN = 5.0
"""Seconds a lease outlasts twice the send's timeout (time to record the outcome)."""


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker sends (see config.py's ``notify_*`` settings)."""

    signer: payloads.Signer
    threads: int = 8
    per_subscription: int = 4
    batch: int = 10
    poll_interval: float = 0.5
    timeout: float = 10.0
    require_confirmation: bool = False
    max_retry_after: float = 3600.0
    smtp_sender: str = ""
    guard: NetworkGuard = field(default_factory=lambda: NetworkGuard([]))


class Notifier:
    """Delivers the outboxes of the databases ``databases()`` returns, until stopped.

    Args:
        databases: the per-database data drivers to serve (called every round,
            so pools registered later are served too).
        config: how to send.
        http, smtp: the senders (built from ``config`` when omitted).
    """

    def __init__(
        self,
        databases: Callable[[], Sequence[DataDriver]],
        config: WorkerConfig,
        *,
        http: HttpSender | None = None,
        smtp: SmtpSender | None = None,
    ) -> None:
        self._databases = databases
        self._config = config
        self._http = http or HttpSender(config.timeout, config.guard)
        self._smtp = smtp or SmtpSender(SmtpConfig(), config.timeout)
        self._pool = ThreadPoolExecutor(config.threads, thread_name_prefix="sqlqueue-notify")
        self._lock = threading.Lock()
        self._inflight = 0
        self._per_sub: Counter[str] = Counter()
        self._results: dict[int, tuple[DeliveryController, list[DeliveryResult]]] = {}
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Notifier:
        """Run the loop in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="sqlqueue-notifier", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking rows, wait for the sends in flight and record them."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.flush()

    def run(self) -> None:
        """The loop: take what the free threads can send, else wait a poll interval."""
        while not self._stopped.is_set():
            try:
                took = self.round()
            except Exception:  # never fatal: the next round may succeed
                logger.exception("notification round failed")
                took = 0
            if not took or self._free() <= 0:
                self._wake.wait(self._config.poll_interval)
                self._wake.clear()
        self.flush()

    def flush(self, keep: set[int] | None = None) -> None:
        """Record the results the sending threads handed over (the lease covers
        failures), except those of the outboxes whose ``id`` is in ``keep``."""
        with self._lock:
            pending = {k: v for k, v in self._results.items() if k not in (keep or ())}
            for key in pending:
                del self._results[key]
        for outbox, results in pending.values():
            try:
                outbox.record(results)
            except errors.StorageUnavailable as ex:
                logger.warning("notification results not recorded (sent again later): %s", ex)

    def round(self) -> int:
        """Record finished sends and lease due rows (one transaction per database),
        then submit them; how many rows were taken."""
        took = 0
        batch = max(1, self._config.batch)
        cap = self._config.per_subscription
        seen: set[int] = set()
        for driver in self._databases():
            outbox = driver.deliveries
            seen.add(id(outbox))
            with self._lock:
                done = self._results.pop(id(outbox), (outbox, []))[1]
            free = 0 if self._stopped.is_set() else self._free()
            try:
                rows = outbox.take_due(
                    free * batch,
                    2 * self._config.timeout + LEASE_MARGIN,
                    per_subscription=batch * cap if cap else batch * free,
                    subscriptions=free,
                    busy=self._busy(),
                    done=done,
                )
            except errors.StorageUnavailable as ex:
                logger.warning("notifications skipped an unavailable database: %s", ex)
                continue
            self._dispatch(outbox, rows, batch)
            took += len(rows)
        self.flush(keep=seen)  # results of databases no longer listed
        return took

    def _dispatch(self, outbox: DeliveryController, rows: list[Delivery], batch: int) -> None:
        """Submit runs of ``batch`` rows per subscription within its free slots;
        give back what does not fit."""
        by_sub: dict[str, list[Delivery]] = {}
        for row in rows:
            by_sub.setdefault(row.subscription_id, []).append(row)
        spare: list[DeliveryResult] = []
        for sid, found in by_sub.items():
            runs = [found[i : i + batch] for i in range(0, len(found), batch)]
            slots = min(len(runs), self._slots(sid))
            for run in runs[:slots]:
                self._submit(outbox, run)
            spare += [DeliveryResult(d.id, "released") for run in runs[slots:] for d in run]
        if spare:
            with self._lock:
                self._results.setdefault(id(outbox), (outbox, []))[1].extend(spare)

    def _slots(self, sid: str) -> int:
        """Runs this subscription and the pool can take now."""
        cap = self._config.per_subscription
        with self._lock:
            free = self._config.threads - self._inflight
            return max(0, min(free, cap - self._per_sub[sid]) if cap else free)

    def _free(self) -> int:
        with self._lock:
            return self._config.threads - self._inflight

    def _busy(self) -> list[str]:
        cap = self._config.per_subscription
        with self._lock:
            return [sid for sid, n in self._per_sub.items() if cap and n >= cap]

    def _submit(self, outbox: DeliveryController, run: list[Delivery]) -> None:
        with self._lock:
            self._inflight += 1
            self._per_sub[run[0].subscription_id] += 1
        self._pool.submit(self._task, outbox, run)

    def _task(self, outbox: DeliveryController, run: list[Delivery]) -> None:
        results: list[DeliveryResult] = []
        try:
            results = self.deliver_run(run)
        except Exception:  # the lease makes the rows due again
            logger.exception("notifications %s failed unexpectedly", [d.id for d in run])
        sid = run[0].subscription_id
        with self._lock:
            if results:
                self._results.setdefault(id(outbox), (outbox, []))[1].extend(results)
            self._inflight -= 1
            self._per_sub[sid] -= 1
            if self._per_sub[sid] <= 0:
                del self._per_sub[sid]
        self._wake.set()

    def deliver_run(self, run: Sequence[Delivery]) -> list[DeliveryResult]:
        """Send rows of one subscription in order until the time budget or a
        retryable failure; the rest are released untouched."""
        deadline = time.monotonic() + self._config.timeout
        results: list[DeliveryResult] = []
        for index, delivery in enumerate(run):
            if index and time.monotonic() > deadline:
                break
            result = self.deliver(delivery)
            results.append(result)
            if result.state == "retry":
                break
        results += [DeliveryResult(d.id, "released") for d in run[len(results) :]]
        return results

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        """Send one row (unless it must not be sent); how it ended (counted in the metrics)."""
        result = self._deliver(delivery)
        NOTIFICATIONS.labels(result.state).inc()
        if result.state == "delivered":
            NOTIFICATION_LAG.observe(max(0.0, time.time() - delivery.created))
        return result

    def _deliver(self, delivery: Delivery) -> DeliveryResult:
        if not self._wanted(delivery):
            return DeliveryResult(delivery.id, "dropped")
        outcome = self.send(delivery)
        if outcome.ok:
            return DeliveryResult(delivery.id, "delivered")
        delay = self._retry_delay(delivery, outcome)
        if delay is None:
            logger.info("notification %s failed for good: %s", delivery.id, outcome.error)
            return DeliveryResult(delivery.id, "failed", error=outcome.error)
        return DeliveryResult(delivery.id, "retry", delay, outcome.error)

    def _wanted(self, delivery: Delivery) -> bool:
        """Gone or expired subscriptions get nothing; unconfirmed ones only notices."""
        sub = delivery.subscription
        if sub is None:
            return False
        if delivery.kind == "notification" and self._config.require_confirmation:
            return sub.confirmed
        return True

    def _retry_delay(self, delivery: Delivery, outcome: Outcome) -> float | None:
        if not outcome.retry or delivery.subscription is None:
            return None
        chosen = policy.choose(delivery.subscription.options, delivery.queue_metadata)
        delay = policy.next_delay(chosen, delivery.attempts)
        if delay is None:
            return None
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, self._config.max_retry_after))
        return delay

    def send(self, delivery: Delivery) -> Outcome:
        """One try of one row (webhook or mail)."""
        sub = delivery.subscription
        assert sub is not None
        try:
            if sub.subscriber.startswith("mailto:"):
                mail = payloads.mail(delivery, sub, self._config.signer, self._config.smtp_sender)
                return self._smtp.send(mail)
            request = payloads.webhook(delivery, sub, self._config.signer, time.time())
        except payloads.Unsendable as ex:
            return final(str(ex))
        return self._http.send(request)
