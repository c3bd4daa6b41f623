"""The blob store contract.

A :class:`BlobStore` keeps immutable blobs named by the sha256 of their bytes.

- ``put_*`` is idempotent: storing bytes that are already there stores nothing new.
- Writes are atomic: a blob is visible under its digest only once complete (temp + rename
  locally, a single PUT / completed multipart upload on object stores), so a crash leaves
  no half blob. A writer given ``expected`` refuses bytes whose digest differs.
- Reads verify: :meth:`open` hashes while streaming and raises
  :class:`~treadle.errors.CorruptBlob` at the end if the bytes do not match.
- A missing digest raises :class:`~treadle.errors.NotFound`.
- Implementations are safe to use from several threads and processes at once.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from treadle.errors import InvalidArgument

CHUNK = 1 << 20
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int


def check_digest(digest: str) -> str:
    if not DIGEST_RE.match(digest):
        raise InvalidArgument(f"not a sha256 hex digest: {digest[:80]!r}")
    return digest


def hash_file(path: str | Path) -> BlobInfo:
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return BlobInfo(sha.hexdigest(), size)


class BlobStore(ABC):
    """Immutable, content-addressed blobs (see the module docstring for the contract)."""

    url: str
    listable = True  # False where listing and deleting belong to a server (remote stores)

    @abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abstractmethod
    def put_stream(self, chunks: Iterable[bytes], expected: str | None = None) -> BlobInfo:
        """Store the concatenated chunks; with ``expected``, refuse a digest mismatch."""

    @abstractmethod
    def open(self, digest: str) -> Iterator[bytes]:
        """Stream a blob's bytes, verified against its digest."""

    @abstractmethod
    def size(self, digest: str) -> int | None:
        """The stored blob's size in bytes, or None when it is not stored."""

    def touch(self, digest: str) -> None:  # noqa: B027 - optional: stores without mtimes skip it
        """Mark a blob as just used, so gc's grace period also covers re-uploads of old content."""

    @abstractmethod
    def delete(self, digest: str) -> None: ...

    @abstractmethod
    def list(self) -> Iterator[tuple[str, float]]:
        """Every stored digest with its modification time (epoch seconds)."""

    @property
    def staging_dir(self) -> str | None:
        """Where to spool an incoming upload so :meth:`adopt` is cheap (None: system temp)."""
        return None

    def adopt(self, local_file: str, digest: str) -> None:
        """Take a complete local file whose sha256 the caller verified as ``digest``."""
        self.put_file(local_file)

    def put_bytes(self, data: bytes) -> BlobInfo:
        return self.put_stream([data])

    def put_file(self, path: str | Path) -> BlobInfo:
        info = hash_file(path)
        if self.exists(info.digest):
            self.touch(info.digest)
            return info
        with open(path, "rb") as f:
            return self.put_stream(_chunks(f), expected=info.digest)

    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self.open(digest))

    def download(self, digest: str, dest: str | Path) -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        with open(tmp, "wb") as f:
            for chunk in self.open(digest):
                f.write(chunk)
        tmp.replace(dest)
        return dest


def _chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def open_blob_store(url: str) -> BlobStore:
    """A blob store for a local path or fsspec URL (``memory://``, ``s3://``, ``file://``)."""
    from treadle.artifacts._fsspec import FsspecBlobStore

    return FsspecBlobStore(url)
