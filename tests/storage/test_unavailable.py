"""A database that does not answer is StorageUnavailable (HTTP 503), never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlqueue import errors
from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/nowhere",
        "mysql+pymysql://root@127.0.0.1:1/nowhere",
        "sqlite:///{tmp}",  # a directory, not a database file
    ],
)
def test_unreachable_database(url: str, tmp_path: Path) -> None:
    driver = SqlDataDriver.from_url(url.format(tmp=tmp_path))
    assert driver.is_alive() is False
    with pytest.raises(errors.StorageUnavailable):
        driver.messages.post("p", "q", [NewMessage(1)], "c")
    with pytest.raises(errors.StorageUnavailable):
        driver.queues.list("p")
    driver.close()
