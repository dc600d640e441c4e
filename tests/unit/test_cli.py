"""Command-line flags reach the settings."""

from __future__ import annotations

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
