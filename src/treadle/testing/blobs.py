"""Blob store conformance: content addressing, atomicity, verification, listing."""

from __future__ import annotations

import hashlib
import os

import pytest

from treadle.artifacts import BlobStore
from treadle.errors import CorruptBlob, InvalidArgument, NotFound


def test_put_and_read_back(blob_store: BlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several chunks
    info = blob_store.put_bytes(data)
    assert info.digest == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert blob_store.exists(info.digest)
    assert blob_store.read_bytes(info.digest) == data


def test_identical_content_stored_once(blob_store: BlobStore, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "f.bin"
    path.write_bytes(b"same bytes")
    a = blob_store.put_file(path)
    b = blob_store.put_bytes(b"same bytes")
    assert a == b
    if blob_store.listable:
        assert sum(1 for d, _ in blob_store.list() if d == a.digest) == 1


def test_stream_with_expected_digest(blob_store: BlobStore) -> None:
    chunks = [b"a" * 1000, b"b" * 1000]
    digest = hashlib.sha256(b"".join(chunks)).hexdigest()
    assert blob_store.put_stream(iter(chunks), expected=digest).digest == digest
    wrong = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(InvalidArgument):
        blob_store.put_stream(iter([b"not other"]), expected=wrong)
    assert not blob_store.exists(wrong)


def test_missing_and_malformed_digests(blob_store: BlobStore) -> None:
    absent = hashlib.sha256(os.urandom(16)).hexdigest()
    assert not blob_store.exists(absent)
    with pytest.raises(NotFound):
        blob_store.read_bytes(absent)
    for bad in ("../../etc/passwd", "abc", "Z" * 64):
        with pytest.raises(InvalidArgument):
            blob_store.exists(bad)


def test_download_to_file(blob_store: BlobStore, tmp_path: object) -> None:
    from pathlib import Path

    info = blob_store.put_bytes(b"to disk")
    dest = blob_store.download(info.digest, Path(str(tmp_path)) / "x" / "y.txt")
    assert dest.read_bytes() == b"to disk"


def test_delete_and_list(blob_store: BlobStore) -> None:
    info = blob_store.put_bytes(os.urandom(64))
    if not blob_store.listable:  # a server's blobs are listed and deleted by its own gc
        with pytest.raises(InvalidArgument, match="gc"):
            blob_store.delete(info.digest)
        with pytest.raises(InvalidArgument, match="gc"):
            list(blob_store.list())
        assert blob_store.exists(info.digest)
        return
    assert info.digest in {d for d, _ in blob_store.list()}
    blob_store.delete(info.digest)
    assert not blob_store.exists(info.digest)
    blob_store.delete(info.digest)  # deleting twice is fine


def corrupt_and_check(blob_store: BlobStore, overwrite: object) -> None:
    """Shared check for stores whose raw bytes a test can overwrite: reads must notice."""
    info = blob_store.put_bytes(b"original content")
    overwrite(info.digest, b"tampered content")  # type: ignore[operator]
    with pytest.raises(CorruptBlob):
        blob_store.read_bytes(info.digest)
