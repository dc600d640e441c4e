"""``_blob_threshold`` refused as Zaqar refuses bad reserved metadata, and a blob
store in trouble answering 503, never 500, never a message without its body."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sqlqueue.bootstrap import create_app, storage_options
from sqlqueue.config import Settings
from sqlqueue.domain.clock import ManualClock
from sqlqueue.storage.blobs import BlobStore, FileBlobStore
from sqlqueue.storage.sql.blobstore import SqlBlobStore
from sqlqueue.storage.sql.driver import SqlDataDriver
from tests.transport.conftest import Api

Q = "/v2/queues/big"
BIG = {"blob": "x" * 5000}
PATCH = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}
DOWN = "postgresql://postgres@127.0.0.1:1/x"


def _api(settings: Settings, engine: Engine, clock: ManualClock, store: BlobStore | None) -> Api:
    driver = SqlDataDriver(engine, clock=clock, options=storage_options(settings, store))
    return Api(create_app(settings, driver=driver, clock=clock))


def _unavailable(result: object) -> None:
    assert result.status_code == 503, result.text  # type: ignore[attr-defined]
    assert set(result.json) == {"title", "description"}  # type: ignore[attr-defined]
    assert result.json["title"] == "Service temporarily unavailable"  # type: ignore[attr-defined]


def test_the_threshold_needs_a_blob_store(api: Api) -> None:
    refused = api.put(Q, json={"_blob_threshold": 4096})
    assert refused.status_code == 400
    assert refused.json["title"] == "Invalid request body"
    assert (
        "blob store" in refused.json["description"] and "blob_store" in refused.json["description"]
    )


@pytest.mark.parametrize("value", [0, 1023, -1, "4096", 4.5, True, 2**40])
def test_bad_thresholds_are_400(
    settings: Settings, engine: Engine, clock: ManualClock, tmp_path: Path, value: object
) -> None:
    api = _api(settings, engine, clock, FileBlobStore(str(tmp_path)))
    refused = api.put(Q, json={"_blob_threshold": value})
    assert refused.status_code == 400, refused.text
    assert refused.json["title"] == "Invalid request body"
    assert api.put(Q, json={}).status_code == 201
    for set_to in (value, 1024):
        patch = [{"op": "add", "path": "/metadata/_blob_threshold", "value": set_to}]
        patched = api.patch(Q, body=json.dumps(patch), headers=PATCH)
        assert patched.status_code == (400 if set_to == value else 200), patched.text
    assert api.get(Q).json["_blob_threshold"] == 1024


def test_a_broken_directory_is_503_and_nothing_is_posted(
    settings: Settings, engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    root = tmp_path / "blobs"
    api = _api(settings, engine, clock, FileBlobStore(str(root)))
    assert api.put(Q, json={"_blob_threshold": 1024}).status_code == 201
    [kept] = api.post_messages("big", BIG)
    shutil.rmtree(root)
    root.write_text("not a directory")
    _unavailable(api.post(f"{Q}/messages", json={"messages": [{"body": BIG}]}))
    for read in (
        api.get(f"{Q}/messages", params={"echo": "true"}),
        api.get(f"{Q}/messages/{kept}"),
        api.delete(f"{Q}/messages", params={"pop": 1}),
    ):
        _unavailable(read)
    small = api.post(f"{Q}/messages", json={"messages": [{"body": 1}]})
    assert small.status_code == 201  # bodies under the threshold do not need the store
    root.unlink()


def test_a_database_store_down_is_503_and_the_pop_is_rolled_back(
    settings: Settings, engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    up = _api(settings, engine, clock, FileBlobStore(str(tmp_path)))
    assert up.put(Q, json={"_blob_threshold": 1024}).status_code == 201
    up.post_messages("big", BIG)
    down = _api(settings, engine, clock, SqlBlobStore.from_url(DOWN))
    _unavailable(down.post(f"{Q}/messages", json={"messages": [{"body": BIG}]}))
    _unavailable(down.delete(f"{Q}/messages", params={"pop": 1}))
    # A claim commits before its bodies are fetched: its messages come back when it ends.
    _unavailable(down.post(f"{Q}/claims", json={"ttl": 60, "grace": 60}))
    assert up.delete(f"{Q}/messages", params={"pop": 1}).json["messages"] == []
    clock.advance(61)
    popped = up.delete(f"{Q}/messages", params={"pop": 1}).json["messages"]
    assert [m["body"] == BIG for m in popped] == [True]  # neither took it


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, blob_grace=60.0)
