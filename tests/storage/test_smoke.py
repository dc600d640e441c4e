from __future__ import annotations

from sqlqueue.domain.models import NewMessage
from sqlqueue.storage.sql.driver import SqlDataDriver


def test_post_and_list(driver: SqlDataDriver) -> None:
    ids = driver.messages.post("p", "q", [NewMessage({"n": 1})], "c")
    assert [m.id for m in driver.messages.list("p", "q", echo=True).items] == ids
