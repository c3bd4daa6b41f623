"""``treadle artifacts list|download`` and ``treadle gc``."""

from __future__ import annotations

from pathlib import Path

import treadle as td
from tests.cli.conftest import Seeded
from tests.cli.helpers import Invoke, Ok, assert_user_error


def test_list(ok: Ok, seeded: Seeded) -> None:
    text = ok("artifacts", "list", seeded.fast)
    assert "3 files" in text
    for path in ("config.json", "model/weights.bin", "notes/readme.txt"):
        assert path in text
    under = ok("artifacts", "list", seeded.fast, "--prefix", "model")
    assert "model/weights.bin" in under and "notes/readme.txt" not in under
    assert "has no artifacts" in ok("artifacts", "list", seeded.slow)


def test_list_unknown_run(cli: Invoke) -> None:
    assert_user_error(cli("artifacts", "list", "nope"), "run 'nope' does not exist")


def test_download_everything_then_skip_identical_files(ok: Ok, seeded: Seeded, tmp_path: Path) -> None:
    dst = tmp_path / "dl"
    assert "Downloaded 3 files" in ok("artifacts", "download", seeded.fast, "--dst", str(dst))
    assert (dst / "notes" / "readme.txt").read_text() == "hello"
    assert (dst / "model" / "weights.bin").read_bytes() == b"\x00\x01weights"
    (dst / "notes" / "readme.txt").write_text("changed locally")
    again = ok("artifacts", "download", seeded.fast, "--dst", str(dst))
    assert "2 already up to date" in again
    assert (dst / "notes" / "readme.txt").read_text() == "hello"


def test_download_one_file_or_folder(ok: Ok, seeded: Seeded, tmp_path: Path) -> None:
    text = ok("artifacts", "download", seeded.fast, "config.json", "--dst", str(tmp_path / "one"))
    assert "Downloaded 1 file," in text
    assert sorted(p.name for p in (tmp_path / "one").rglob("*") if p.is_file()) == ["config.json"]
    ok("artifacts", "download", seeded.fast, "notes", "--dst", str(tmp_path / "folder"))
    assert [p.relative_to(tmp_path / "folder").as_posix() for p in (tmp_path / "folder").rglob("*.txt")] == [
        "notes/readme.txt"
    ]


def test_download_errors(cli: Invoke, seeded: Seeded, tmp_path: Path) -> None:
    assert_user_error(cli("artifacts", "download", seeded.fast, "missing.txt", "--dst", str(tmp_path)), "no artifact")
    assert_user_error(cli("artifacts", "download", seeded.fast, "../etc/passwd", "--dst", str(tmp_path)), "..")
    assert_user_error(cli("artifacts", "download", "nope", "--dst", str(tmp_path)), "does not exist")
    assert list(tmp_path.rglob("missing.txt")) == []


def test_gc_dry_run_then_delete(ok: Ok, seeded: Seeded, client: td.Client) -> None:
    orphan = client.blobs.put_bytes(b"x").digest
    kept = client.list_artifacts(seeded.fast, "notes")[0].digest
    young = ok("gc")  # the default grace period protects a fresh upload
    assert orphan not in young and "0 unreferenced" in young
    dry = ok("gc", "--grace", "0")
    assert orphan in dry and "1 unreferenced" in dry and "would delete 1" in dry
    assert client.blobs.exists(orphan)
    deleted = ok("gc", "--delete", "--grace", "0")
    assert orphan in deleted and "Deleted 1 unreferenced" in deleted
    assert not client.blobs.exists(orphan)
    assert client.blobs.exists(kept) and client.read_artifact(seeded.fast, "notes/readme.txt") == b"hello"
    assert "Nothing to delete." in ok("gc", "--grace", "0")


def test_gc_rejects_negative_grace(cli: Invoke) -> None:
    assert cli("gc", "--grace", "-1").exit_code == 2
