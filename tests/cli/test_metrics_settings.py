"""Metrics settings ``sqlqueue serve`` cannot work with: one line, status 2, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Run, free_port, refusal

pytestmark = pytest.mark.sqlite


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "SQLQUEUE_METRICS_ENDPOINT",
            "everywhere",
            "sqlqueue: metrics_endpoint must be one of admin, public, off, not 'everywhere'",
        ),
        ("SQLQUEUE_METRICS_QUEUES", "-1", "sqlqueue: metrics_queues must be 0 or more"),
        (
            "SQLQUEUE_METRICS_SCRAPE_TIMEOUT",
            "0",
            "sqlqueue: metrics_scrape_timeout must be more than 0 seconds",
        ),
    ],
)
def test_a_bad_metrics_setting_is_refused(
    sqlqueue: Run, tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    result = sqlqueue(
        "serve", "--port", str(free_port()), "--database-url", url, **{variable: value}
    )
    assert refusal(result) == expected
    assert not (tmp_path / "q.db").exists()  # nothing started


def test_a_busy_metrics_port_is_refused(sqlqueue: Run, tmp_path: Path, busy_port: int) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    result = sqlqueue(
        "serve", "--port", str(free_port()), "--database-url", url,
        SQLQUEUE_METRICS_PORT=str(busy_port),
    )  # fmt: skip
    assert refusal(result) == (
        f"sqlqueue: port {busy_port} on 127.0.0.1 is already in use by another program: "
        "stop it, or choose another port with metrics_port"
    )
