"""Pure code: ids, markers, configuration."""

from __future__ import annotations

import pytest

from sqlqueue import errors
from sqlqueue.config import Settings
from sqlqueue.domain import ids


def test_tokens_are_url_safe_and_recognised() -> None:
    token = ids.new_token()
    assert ids.is_token(token) and "=" not in token and len(token) == 32
    assert not ids.is_token("bogus") and not ids.is_token(None) and not ids.is_token(token.upper())


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.0", "\uff11\uff12", "9" * 20, ""])
def test_malformed_message_ids(raw: str) -> None:
    assert ids.message_key(raw) is None


def test_message_ids_round_trip() -> None:
    assert ids.message_key(ids.message_id(42)) == 42


def test_markers() -> None:
    assert ids.marker_value(None) == 0
    assert ids.marker_value("17") == 17
    assert ids.marker_value("x") is None


def test_settings_sources(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "conf.toml"  # type: ignore[operator]
    path.write_text("port = 9999\nworkers = 3\n[limits]\nmax_messages_per_page = 7\n")
    settings = Settings.load(
        {"SQLQUEUE_WORKERS": "5", "SQLQUEUE_ADMIN_MODE": "yes"},
        config_file=str(path),
        host="0.0.0.0",
    )
    assert (settings.port, settings.workers, settings.host) == (9999, 5, "0.0.0.0")
    assert settings.admin_mode is True
    assert settings.limits.max_messages_per_page == 7
    assert settings.database_url.startswith("sqlite:///")


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(errors.ValidationFailed):
        Settings.load({"SQLQUEUE_PORT": "eighty"})
    with pytest.raises(errors.ValidationFailed):
        Settings.from_mapping({"no_such_option": 1})
