import contextlib
from pathlib import Path

from treadle.artifacts import FsspecBlobStore
from treadle.testing.blobs import *  # noqa: F403
from treadle.testing.blobs import corrupt_and_check


def test_local_reads_detect_corruption(tmp_path: Path) -> None:
    store = FsspecBlobStore(str(tmp_path / "blobs"))

    def overwrite(digest: str, data: bytes) -> None:
        (tmp_path / "blobs" / digest[:2] / digest[2:4] / digest).write_bytes(data)

    corrupt_and_check(store, overwrite)


def test_local_writes_leave_no_partial_blob(tmp_path: Path) -> None:
    store = FsspecBlobStore(str(tmp_path / "blobs"))

    def chunks():  # the writer dies half way
        yield b"x" * 1000
        raise RuntimeError("crash")

    with contextlib.suppress(RuntimeError):
        store.put_stream(chunks())
    assert list(store.list()) == []
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []


def test_reupload_refreshes_the_gc_grace_period(tmp_path: Path) -> None:
    import os
    import time

    store = FsspecBlobStore(str(tmp_path / "blobs"))
    info = store.put_bytes(b"old content")
    blob = tmp_path / "blobs" / info.digest[:2] / info.digest[2:4] / info.digest
    two_hours_ago = time.time() - 7200
    os.utime(blob, (two_hours_ago, two_hours_ago))
    store.put_bytes(b"old content")  # uploaded again: gc must not take it from under the new upload
    assert dict(store.list())[info.digest] > time.time() - 60
