"""Dataset benchmark: snapshot many small files, then snapshot them again after changing a few.

    .venv/bin/python bench/datasets.py            # 100,000 files (2-5 minutes on 2 cores, cleanup included)
    .venv/bin/python bench/datasets.py --quick    # 10,000 files, a smoke run

treadle only (DVC, the anchor, is known to be slow on many small files, dvc#7607; it is not
installed here). A folder of ``--files`` small text files (100 bytes each, seed 0, 100 folders x 10
subfolders) is snapshotted with ``td.datasets.create(name, folder)`` into a local backend (SQLite,
a blob folder) in a temporary directory: the first version, timed. Then 10 files get new contents
(same size, new bytes) and the folder is snapshotted again: the second version, timed. The second
must take under 5% of the first: files whose size and mtime have not changed are neither re-read,
re-hashed nor re-stored. A third snapshot with nothing changed is shown for information.

Every answer is checked: the versions are 1 and 2 (and the third, unchanged, creates nothing new or
returns version 2), each holds ``--files`` files, and the second's content differs from the first's
in exactly the 10 changed files where the SDK can tell. A mismatch stops the run with ``BENCHMARK
FAILED`` (exit code 2); a missed target in a full run exits with 1. Results go to
bench/out/datasets.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, BenchError, cli_main

NAME = "bench-small-files"
FILE_SIZE = 100
CHANGED = 10
TARGET = 0.05  # second snapshot / first snapshot


def make_files(root: Path, n: int) -> list[Path]:
    """``n`` files of FILE_SIZE bytes of printable text in root/dNN/sN/fNNNNNN.txt (seed 0)."""
    rng = np.random.default_rng(0)
    text = rng.integers(ord("a"), ord("z") + 1, size=(n, FILE_SIZE - 1), dtype=np.uint8)
    paths = []
    for i in range(n):
        folder = root / f"d{i % 100:02d}" / f"s{(i // 100) % 10}"
        if i < 1000:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{i:06d}.txt"
        path.write_bytes(text[i].tobytes() + b"\n")
        paths.append(path)
    return paths


def change_files(paths: list[Path], count: int) -> list[Path]:
    """New contents (same size) for ``count`` of the files, picked with seed 1."""
    rng = np.random.default_rng(1)
    picked = [paths[i] for i in sorted(rng.choice(len(paths), size=count, replace=False))]
    for path in picked:
        path.write_bytes(rng.integers(ord("A"), ord("Z") + 1, size=FILE_SIZE - 1, dtype=np.uint8).tobytes() + b"\n")
    return picked


def number_of(version: Any) -> int:
    return int(getattr(version, "version", version))


def files_of(version: Any) -> int | None:
    """How many files the version says it holds (num_rows of a files dataset), when it says."""
    for attr in ("num_files", "num_rows"):
        value = getattr(version, attr, None)
        if isinstance(value, int):
            return value
    return None


def snapshot(td: Any, folder: Path, label: str) -> tuple[float, Any]:
    start = time.perf_counter()
    version = td.datasets.create(NAME, str(folder))
    elapsed = time.perf_counter() - start
    print(f"  {label:36s} {elapsed:8.2f} s  -> version {number_of(version)}", flush=True)
    return elapsed, version


def run(opts: argparse.Namespace, tmp: Path) -> int:
    n = 10_000 if opts.quick else opts.files
    os.environ["TREADLE_URI"] = f"sqlite:///{tmp / 'treadle.db'}"
    os.environ["TREADLE_ARTIFACTS"] = str(tmp / "artifacts")
    os.environ.setdefault("TREADLE_CAPTURE_ENVIRONMENT", "false")
    import treadle as td

    folder = tmp / "files"
    t0 = time.perf_counter()
    paths = make_files(folder, n)
    print(f"[data] {n:,} files of {FILE_SIZE} bytes in {time.perf_counter() - t0:.1f}s", flush=True)
    td.set_uri()
    first_s, first = snapshot(td, folder, f"first snapshot ({n:,} files)")
    changed = change_files(paths, CHANGED)
    second_s, second = snapshot(td, folder, f"second snapshot ({CHANGED} changed)")
    third_s, third = snapshot(td, folder, "third snapshot (nothing changed)")

    problems = []
    if (number_of(first), number_of(second)) != (1, 2):
        problems.append(f"versions {number_of(first)}, {number_of(second)}; expected 1, 2")
    if number_of(third) not in (2, 3):
        problems.append(f"the unchanged snapshot is version {number_of(third)}; expected 2 (or 3)")
    for label, v in (("first", first), ("second", second)):
        if files_of(v) not in (None, n):
            problems.append(f"the {label} version holds {files_of(v)} files, expected {n}")
    t0 = time.perf_counter()
    diff = changed_paths(td)
    print(f"[check] td.datasets.diff(name, 1, 2) in {time.perf_counter() - t0:.1f}s", flush=True)
    if diff is not None and diff != sorted(p.relative_to(folder).as_posix() for p in changed):
        problems.append(f"the diff of versions 1 and 2 names {diff[:20]}, expected the {CHANGED} changed files")
    if problems:
        raise BenchError("datasets answered wrongly:\n  " + "\n  ".join(problems))

    ratio = second_s / first_s
    met = ratio < TARGET
    print()
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}; treadle {td.__version__}, local SQLite backend")
    print(f"{'figure':40s} {'treadle':>10s}")
    print("-" * 52)
    print(f"{f'first snapshot, {n:,} files':40s} {first_s:8.2f} s")
    print(f"{f'second snapshot, {CHANGED} files changed':40s} {second_s:8.2f} s")
    print(f"{'third snapshot, nothing changed':40s} {third_s:8.2f} s  (info)")
    print(f"second / first: {ratio:.1%} (target < {TARGET:.0%}): {'yes' if met else 'NO'}")
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "files": n,
                "file_size": FILE_SIZE,
                "changed": CHANGED,
                "first_s": first_s,
                "second_s": second_s,
                "third_s": third_s,
                "ratio": ratio,
                "target": TARGET,
                "met": met,
                "versions": [number_of(v) for v in (first, second, third)],
                "treadle": td.__version__,
                "cpus": os.cpu_count(),
                "load_average_end": os.getloadavg(),
            },
            indent=1,
        )
    )
    print(f"results: {out}")
    return 0 if met or opts.quick else 1


def changed_paths(td: Any) -> list[str] | None:
    """The files versions 1 and 2 differ in (changed, added or removed), by ``td.datasets.diff``;
    None when the SDK has no diff."""
    diff_fn = getattr(td.datasets, "diff", None)
    if diff_fn is None:
        return None
    diff = diff_fn(NAME, 1, 2)
    names = [*diff.files_changed, *diff.files_added, *diff.files_removed]
    return sorted(str(getattr(item, "path", item)) for item in names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10,000 files: a smoke run")
    ap.add_argument("--files", type=int, default=100_000, help="how many small files (default 100,000)")
    ap.add_argument("--dir", default=None, help="where to make the temporary directory (default: the system's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--out", default=str(BENCH / "out" / "datasets.json"), help="where to write the JSON results")
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-datasets-", dir=opts.dir))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(opts, tmp)
    finally:
        if opts.keep:
            print(f"[kept] {tmp}")
        else:
            print(f"[cleanup] removing {tmp} (the files and their blobs: minutes on a slow disk)", flush=True)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    cli_main(main)
