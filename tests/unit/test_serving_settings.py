"""The serving limits are settings like the others: TOML, environment, flags; nonsense refused."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from sqlqueue import cli, logs, server
from sqlqueue.config import Settings
from sqlqueue.errors import ValidationFailed


def test_defaults_are_documented_values() -> None:
    settings = Settings.load(environ={})
    assert (settings.header_timeout, settings.keepalive_timeout) == (20.0, 20.0)
    assert (settings.body_timeout, settings.max_body_size) == (30.0, 1024 * 1024)
    assert (settings.max_connections, settings.log_format) == (1024, "text")


def test_toml_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "sqlqueue.toml"
    config.write_text(
        "[sqlqueue]\nheader_timeout = 5\nkeepalive_timeout = 7\nbody_timeout = 9\n"
        'max_connections = 64\nlog_format = "json"\n'
    )
    from_file = Settings.load(environ={}, config_file=str(config))
    assert (from_file.header_timeout, from_file.keepalive_timeout) == (5, 7)
    assert (from_file.body_timeout, from_file.max_connections) == (9, 64)
    assert from_file.log_format == "json"
    env = {"SQLQUEUE_KEEPALIVE_TIMEOUT": "30", "SQLQUEUE_MAX_BODY_SIZE": "2000000"}
    from_env = Settings.load(environ=env, config_file=str(config))
    assert (from_env.keepalive_timeout, from_env.max_body_size) == (30.0, 2000000)
    flags_given = ["--header-timeout", "3", "--body-timeout", "4", "--keepalive-timeout", "6"]
    flags_given += ["--max-connections", "8", "--log-format", "text"]
    args = cli._parser().parse_args(["--config", str(config), "serve", *flags_given])
    flags = cli._settings(args)
    assert (flags.header_timeout, flags.keepalive_timeout, flags.body_timeout) == (3, 6, 4)
    assert (flags.max_connections, flags.log_format) == (8, "text")


def test_one_timer_for_heads_and_idle_connections() -> None:
    settings = Settings.load(environ={}, header_timeout=5, keepalive_timeout=40)
    assert server.header_timer(settings) == 40
    assert server.per_worker_connections(dataclasses.replace(settings, workers=3)) == 342


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keepalive_timeout": 61}, "keepalive_timeout must be more than 0 and at most 60"),
        ({"header_timeout": 0}, "header_timeout must be more than 0 and at most 60"),
        ({"max_connections": 1, "workers": 2}, "max_connections must be at least"),
        ({"max_body_size": 1000}, "max_body_size must be at least 262144 bytes"),
        ({"body_timeout": 0}, "body_timeout must be more than 0"),
    ],
)
def test_limits_no_server_can_apply_are_refused(change: dict[str, float], message: str) -> None:
    settings = dataclasses.replace(Settings.load(environ={}), **change)
    with pytest.raises(ValidationFailed, match=message):
        server.header_timer(settings)
        server.check_body_limits(settings)
        server.per_worker_connections(settings)


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="log_format must be text or json"):
        logs.dict_config("INFO", "yaml")


def test_json_formatter_writes_one_object_with_the_access_fields() -> None:
    record = logging.LogRecord("sqlqueue.access", logging.INFO, "x", 1, "hi %s", ("there",), None)
    record.access = {"request_id": "req-1", "project": "p", "queue": "q", "status": 201}
    line = logs.JsonFormatter().format(record)
    document = json.loads(line)
    assert "\n" not in line
    assert document["message"] == "hi there" and document["logger"] == "sqlqueue.access"
    assert (document["request_id"], document["queue"], document["status"]) == ("req-1", "q", 201)
