"""Command-line flags reach the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlqueue import cli


def test_serve_flags() -> None:
    args = cli._parser().parse_args(
        [
            "serve",
            "--port",
            "9100",
            "--workers",
            "3",
            "--threads",
            "1",
            "--admin",
            "--database-url",
            "sqlite:///x.db",
        ]
    )
    settings = cli._settings(args)
    assert (settings.port, settings.workers, settings.threads) == (9100, 3, 1)
    assert settings.admin_mode is True and settings.database_url == "sqlite:///x.db"


def test_defaults() -> None:
    settings = cli._settings(cli._parser().parse_args(["serve"]))
    assert (settings.workers, settings.threads, settings.admin_mode) == (2, 2, False)


def test_notify_with_a_bad_network_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SQLQUEUE_NOTIFY_DENY_NETWORKS", "10.0.0.0/33")
    assert cli.main(["--database-url", f"sqlite:///{tmp_path}/x.db", "notify"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "sqlqueue: Bad network in notify_*_networks: "
        "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network\n"
    )


def test_a_malformed_encryption_key_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SQLQUEUE_ENCRYPTION_KEYS", "k1:c2hvcnQ=")
    assert cli.main(["--database-url", f"sqlite:///{tmp_path}/x.db", "gc"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "sqlqueue: encryption_keys entry 1 (k1): the key must be 32 bytes in base64 "
        "(make one with: openssl rand -base64 32)\n"
    )
