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
