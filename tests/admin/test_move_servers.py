"""Dead letters across pools and tombstone collection on PostgreSQL and MySQL pools.

The SQLite versions are in test_moves.py; these run the same user-visible
paths on server databases (their ``DELETE ... RETURNING``, locking reads and
conditional deletes). The catalogue is SQLite with a manual clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.pooling.tombstones import keep_seconds
from tests.admin.conftest import CACHE, build_site, message_counts
from tests.admin.test_move_live import pool_url
from tests.admin.test_moves import CLAIM, DEAD_LETTERING, tombstones
from tests.conftest import ServerUrls

pytestmark = [pytest.mark.postgresql, pytest.mark.mysql]


def test_dead_letters_cross_server_pools_and_the_tombstone_goes(
    tmp_path: Path, clock: ManualClock, server_urls: ServerUrls
) -> None:
    site = build_site(tmp_path, clock)
    urls = {
        "pg": pool_url(server_urls, tmp_path, "postgresql", "dl_pg"),
        "my": pool_url(server_urls, tmp_path, "mysql", "dl_my"),
    }
    try:
        site.put_pool("pg", urls["pg"])
        assert site.public.put("/v2/queues/jobs", json=DEAD_LETTERING).status_code == 201
        site.put_pool("my", urls["my"])
        posted = site.public.post_messages("jobs", "a", "b")
        assert len(posted) == 2
        first = site.public.post("/v2/queues/jobs/claims", json=CLAIM)
        claim_id = first.json["messages"][0]["href"].rsplit("claim_id=", 1)[-1]
        assert site.public.delete(f"/v2/queues/jobs/claims/{claim_id}").status_code == 204
        assert site.admin.put("/v2/catalogue/dlq", json={"pool": "my"}).status_code == 200

        again = site.public.post("/v2/queues/jobs/claims", json=CLAIM)

        assert again.status_code == 204, again.text
        listed = site.public.get("/v2/queues/dlq/messages?echo=true").json["messages"]
        assert [m["body"] for m in listed] == ["a", "b"]
        assert message_counts(urls["my"]) == {"dlq": 2}
        assert message_counts(urls["pg"]) == {}
        assert tombstones(urls["pg"]) == {"dlq": "my"}
        site.clock.advance(keep_seconds(CACHE) + 1)
        site.storages[0].store.gc()
        assert tombstones(urls["pg"]) == {}
        assert site.public.get("/v2/queues/dlq/stats").json["messages"]["total"] == 2
    finally:
        for storage in site.storages:
            storage.close()
