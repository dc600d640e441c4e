"""Fixtures of the delivery tests: real receivers and a worker over a real database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from sqlqueue.config import Settings
from sqlqueue.notify import service
from sqlqueue.notify.worker import Notifier
from sqlqueue.storage.base import SingleStore, StorageOptions
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.notify.receivers import HttpReceiver, SmtpReceiver

SECRET = "notify-test-secret"


@pytest.fixture(scope="session")
def receiver() -> Iterator[HttpReceiver]:
    found = HttpReceiver()
    yield found
    found.close()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpReceiver]:
    found = SmtpReceiver()
    yield found
    found.close()


def settings(smtp_port: int = 25, **overrides: Any) -> Settings:
    """Test settings: loopback allowed explicitly, quick polls, short timeouts."""
    values: dict[str, Any] = {
        "notify_allow_networks": "127.0.0.1/32",
        "notify_poll_interval": 0.05,
        "notify_timeout": 1.0,
        "signed_url_secret": SECRET,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_from": "queues@example.com",
        **overrides,
    }
    return Settings.from_mapping(values)


@pytest.fixture
def outbox(engine: Engine) -> SqlDataDriver:
    """A driver on the backend under test, on the system clock."""
    return SqlDataDriver(engine)


@pytest.fixture
def start_worker(smtp: SmtpReceiver) -> Iterator[Callable[..., Notifier]]:
    """Start a worker over a driver with settings overrides; stopped after the test."""
    started: list[Notifier] = []

    def start(driver: SqlDataDriver, **overrides: Any) -> Notifier:
        store = SingleStore(driver)
        worker = service.notifier(settings(smtp.port, **overrides), store).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def confirming_driver(engine: Engine) -> SqlDataDriver:
    """A driver whose subscriptions need confirming."""
    return SqlDataDriver(engine, options=StorageOptions(require_confirmation=True))
