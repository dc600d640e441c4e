"""The collector's rate cap is a setting like the others; nonsense is refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlqueue.bootstrap import storage_options
from sqlqueue.config import GC_RATE, Settings
from sqlqueue.errors import ValidationFailed


def test_the_rate_cap_reaches_the_collector_from_file_and_environment(tmp_path: Path) -> None:
    assert storage_options(Settings.load(environ={})).gc_rate == GC_RATE == 5000
    config = tmp_path / "sqlqueue.toml"
    config.write_text("[sqlqueue]\ngc_rate = 800\n")
    assert storage_options(Settings.load(environ={}, config_file=str(config))).gc_rate == 800
    no_cap = Settings.load(environ={"SQLQUEUE_GC_RATE": "0"}, config_file=str(config))
    assert storage_options(no_cap).gc_rate == 0


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SQLQUEUE_GC_RATE": "-1"}, "gc_rate must be 0 (no cap) or a number of rows per second"),
        ({"SQLQUEUE_GC_RATE": "nan"}, "gc_rate must be 0 (no cap)"),
        ({"SQLQUEUE_GC_RATE": "fast"}, "Bad value for gc_rate: 'fast'"),
    ],
)
def test_a_bad_rate_cap_is_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        Settings.load(environ=environ)
    assert message in str(raised.value)


def test_a_rate_cap_that_is_not_a_number_in_toml_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "sqlqueue.toml"
    config.write_text("[sqlqueue]\ngc_rate = true\n")
    with pytest.raises(ValidationFailed, match="not True"):
        Settings.load(environ={}, config_file=str(config))
