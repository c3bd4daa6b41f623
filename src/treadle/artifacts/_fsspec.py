"""A blob store on any fsspec filesystem: local disk, ``memory://``, ``s3://`` and friends."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from treadle.artifacts.base import CHUNK, BlobInfo, BlobStore, check_digest
from treadle.errors import CorruptBlob, InvalidArgument, NotFound


class FsspecBlobStore(BlobStore):
    """Blobs at ``<root>/<d[:2]>/<d[2:4]>/<digest>``.

    Locally a blob is written to ``<root>/.tmp`` and renamed into place (atomic on one
    filesystem). Elsewhere the bytes are spooled to a local temp file, hashed, then uploaded
    with one ``put_file``: object stores make an object visible only when its upload completes.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            hint = " (install treadle[s3])" if url.startswith("s3") else ""
            raise InvalidArgument(f"cannot open artifact store {url!r}: {exc}{hint}") from exc
        self.fs: Any = fs
        self.root: str = root.rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)
        if self._local:
            os.makedirs(os.path.join(self.root, ".tmp"), exist_ok=True)

    def _path(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.root}/{digest[:2]}/{digest[2:4]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._path(digest)))

    def size(self, digest: str) -> int | None:
        try:
            return int(self.fs.size(self._path(digest)))
        except FileNotFoundError:
            return None

    def touch(self, digest: str) -> None:
        if self._local:  # object stores keep their upload time; their gc grace counts from it
            with contextlib.suppress(FileNotFoundError):
                os.utime(self._path(digest))

    def put_stream(self, chunks: Iterable[bytes], expected: str | None = None) -> BlobInfo:
        if expected is not None:
            check_digest(expected)
        tmp_dir = os.path.join(self.root, ".tmp") if self._local else None
        fd, tmp = tempfile.mkstemp(prefix=f"{uuid.uuid4().hex}.", dir=tmp_dir)
        try:
            sha, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    sha.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            digest = sha.hexdigest()
            if expected is not None and digest != expected:
                raise InvalidArgument(f"uploaded bytes have sha256 {digest}, not the declared {expected}")
            final = self._path(digest)
            if self.fs.exists(final):
                self.touch(digest)
            else:
                if self._local:
                    os.makedirs(os.path.dirname(final), exist_ok=True)
                    os.replace(tmp, final)
                else:
                    self.fs.put_file(tmp, final)
            return BlobInfo(digest, size)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @property
    def staging_dir(self) -> str | None:
        return os.path.join(self.root, ".tmp") if self._local else None

    def adopt(self, local_file: str, digest: str) -> None:
        if not self._local:
            super().adopt(local_file, digest)
            return
        final = self._path(digest)
        if os.path.exists(final):
            self.touch(digest)
        else:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(local_file, final)

    def open(self, digest: str) -> Iterator[bytes]:
        path = self._path(digest)
        try:
            f = self.fs.open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the artifact store {self.url}") from None
        return self._verified(f, digest)

    @staticmethod
    def _verified(f: Any, digest: str) -> Iterator[bytes]:
        sha = hashlib.sha256()
        with f:
            while chunk := f.read(CHUNK):
                sha.update(chunk)
                yield chunk
        if sha.hexdigest() != digest:
            raise CorruptBlob(f"blob {digest} is corrupt: its bytes hash to {sha.hexdigest()}")

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(digest))

    def list(self) -> Iterator[tuple[str, float]]:
        if not self.fs.exists(self.root):
            return
        for path, info in self.fs.find(self.root, detail=True).items():
            name = path.rsplit("/", 1)[-1]
            # Only <root>/ab/cd/<digest>: a workspace's blobs under <root>/.workspaces/ are its own.
            if len(name) != 64 or path.rstrip("/")[len(self.root) :].count("/") != 3:
                continue
            yield name, _mtime(info)


def _mtime(info: dict[str, Any]) -> float:
    for key in ("mtime", "LastModified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        return float(value)
    return 0.0
