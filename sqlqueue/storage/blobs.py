"""The blob store: big message bodies kept apart from their message rows.

A queue with ``_blob_threshold`` keeps the bodies of more bytes in the
service's blob store (``blob_store``: a database used only for bodies, or a
directory) and a pointer (``domain.bodies.blob_pointer``) in the message
row, whose claims and order stay in the queue's pool. Blobs are keyed by a
random id written in the pointer, not by pool or message id, so a pointer
still resolves after its queue moved to another pool.

Order of writes, so that no pool transaction waits on the blob store: a
post writes its blobs (committed) before its rows; a delete commits the row
removal, then deletes the blob. A crash between the two leaves an orphan
blob, which ``collect`` removes once its message's TTL and ``blob_grace``
have passed and no live row or pending notification points to it.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlqueue import errors
from sqlqueue.domain.bodies import BlobRef, BodyCodec
from sqlqueue.domain.models import Message

logger = logging.getLogger(__name__)

FILE_SCHEME = "file://"
"""A ``blob_store`` setting naming a directory: ``file:///var/lib/sqlqueue/blobs``."""


@dataclass(frozen=True)
class Blob:
    """One body in the blob store: its key, its queue, its stored text, until when (ms)."""

    key: str
    project: str
    queue: str
    text: str
    expires_at: int


@dataclass(frozen=True)
class BlobOwner:
    """Whose body a blob is (for the collector's check): key, project, queue."""

    key: str
    project: str
    queue: str


def new_key() -> str:
    """A fresh blob key: 32 hex characters, random, the same in every pool."""
    return uuid.uuid4().hex


class BlobStore(abc.ABC):
    """Where big bodies live. Every method raises ``StorageUnavailable`` on trouble."""

    @abc.abstractmethod
    def put(self, blobs: Sequence[Blob]) -> None:
        """Store ``blobs``, durably, before the caller writes the rows pointing to them."""

    @abc.abstractmethod
    def get(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored texts of ``keys``; a missing key is left out."""

    @abc.abstractmethod
    def delete(self, keys: Sequence[str]) -> None:
        """Remove ``keys`` (silent for missing ones)."""

    @abc.abstractmethod
    def expired(self, before: int, limit: int) -> list[BlobOwner]:
        """Up to ``limit`` blobs whose ``expires_at`` (ms) is before ``before``, oldest first."""

    @abc.abstractmethod
    def extend(self, until: Mapping[str, int]) -> None:
        """Set the ``expires_at`` (ms) of blobs still in use: key -> new value."""

    def close(self) -> None:  # noqa: B027 - most stores hold nothing open
        """Release what the store holds open."""


class FileBlobStore(BlobStore):
    """A directory, for a single node: one file per blob, ``<dir>/<key[:2]>/<key>``.

    The file's first line is its owner (``project`` TAB ``queue``), the rest the
    stored text; its modification time is its ``expires_at``. Files are written
    to a temporary name, synced, then renamed, so a reader never sees half a body.
    """

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 32 or not key.isalnum():
            raise errors.StorageUnavailable("A message points to a malformed blob key.")
        return self.root / key[:2] / key

    def put(self, blobs: Sequence[Blob]) -> None:
        with _os_errors():
            for blob in blobs:
                self._write(blob)

    def _write(self, blob: Blob) -> None:
        path = self._path(blob.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        data = f"{blob.project}\t{blob.queue}\n{blob.text}".encode()
        with open(part, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.utime(part, ns=(time.time_ns(), blob.expires_at * 1_000_000))
        os.replace(part, path)

    def get(self, keys: Sequence[str]) -> dict[str, str]:
        found = {}
        with _os_errors():
            for key in keys:
                try:
                    data = self._path(key).read_text(encoding="utf-8")
                except FileNotFoundError:
                    continue
                found[key] = data.split("\n", 1)[1]
        return found

    def delete(self, keys: Sequence[str]) -> None:
        with _os_errors():
            for key in keys:
                self._path(key).unlink(missing_ok=True)

    def expired(self, before: int, limit: int) -> list[BlobOwner]:
        aged: list[tuple[int, str]] = []
        with _os_errors():
            if self.root.is_dir():
                for folder in os.scandir(self.root):
                    if folder.is_dir():
                        aged += _aged_files(folder.path, before)
            aged.sort()
            found = [self._owner(key) for _, key in aged[:limit]]
        return [owner for owner in found if owner is not None]

    def _owner(self, key: str) -> BlobOwner | None:
        try:
            with open(self._path(key), encoding="utf-8") as src:
                project, queue = src.readline().rstrip("\n").split("\t", 1)
        except FileNotFoundError:
            return None
        return BlobOwner(key, project, queue)

    def extend(self, until: Mapping[str, int]) -> None:
        with _os_errors():
            for key, expires_at in until.items():
                try:
                    os.utime(self._path(key), ns=(time.time_ns(), expires_at * 1_000_000))
                except FileNotFoundError:
                    continue


def _aged_files(folder: str, before: int) -> list[tuple[int, str]]:
    found = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".part"):
            continue
        expires_at = entry.stat().st_mtime_ns // 1_000_000
        if expires_at < before:
            found.append((expires_at, entry.name))
    return found


@contextlib.contextmanager
def _os_errors() -> Iterator[None]:
    """Turn an ``OSError`` into ``StorageUnavailable`` (a 503)."""
    try:
        yield
    except OSError as error:
        raise errors.StorageUnavailable(f"The blob store failed: {error}") from error


def refs_of(messages: Iterable[Message]) -> list[str]:
    """The blob keys ``messages`` point to (bodies not fetched yet)."""
    return [m.body.key for m in messages if isinstance(m.body, BlobRef)]


T = TypeVar("T")


def fill(
    items: Sequence[T],
    body_of: Callable[[T], Any],
    with_body: Callable[[T, Any], T],
    blobs: BlobStore | None,
    codec: BodyCodec,
) -> list[T]:
    """``items`` with their blob bodies fetched (one ``get``) and opened by ``codec``.

    An item whose blob is gone (its message was deleted meanwhile) is left out,
    never shown without its body.

    :raises StorageUnavailable: the blob store failed.
    :raises BodyCipherFailed: a fetched body cannot be opened.
    """
    keys = [body.key for item in items if isinstance(body := body_of(item), BlobRef)]
    if not keys:
        return list(items)
    if blobs is None:
        raise errors.StorageUnavailable("A message body is in the blob store; none is configured.")
    texts = blobs.get(keys)
    out = []
    for item in items:
        body = body_of(item)
        if not isinstance(body, BlobRef):
            out.append(item)
        elif body.key in texts:
            out.append(with_body(item, codec.load(texts[body.key])))
    return out


def resolve(
    messages: Sequence[Message], blobs: BlobStore | None, codec: BodyCodec
) -> list[Message]:
    """``messages`` with their blob bodies (see ``fill``), checksums computed."""

    def with_body(message: Message, body: Any) -> Message:
        return dataclasses.replace(message, body=body, checksum=codec.checksum(body))

    return fill(messages, lambda m: m.body, with_body, blobs, codec)


def discard(blobs: BlobStore | None, keys: Sequence[str]) -> None:
    """Delete the blobs of deleted messages; trouble is logged, not raised.

    The rows are gone already (committed), so a failure leaves orphans for
    ``collect`` rather than failing a delete that has happened.
    """
    if not keys or blobs is None:
        return
    try:
        blobs.delete(keys)
    except errors.StorageUnavailable as ex:
        logger.warning("blobs of deleted messages left for gc: %s", ex)
