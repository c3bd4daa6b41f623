"""Snapshotting a source into a new dataset version (runs in the caller's process).

Tables are streamed batch by batch into Parquet parts of ``part_rows`` rows (validated on the way),
so a source larger than memory is fine; file collections are walked with a digest cache, so files
whose size and mtime did not change are neither re-read nor re-uploaded. Only blobs the store
lacks are uploaded, then one call records the version as a change set against the latest one.
Nothing is recorded until every blob is stored: an interrupted create leaves the previous
version as it was, and rerunning it uploads only what is still missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treadle.artifacts import BlobStore, hash_file
from treadle.datasets._hashcache import HashCache
from treadle.datasets._records import ColumnSchema, CreateResult, DatasetVersion, FileChange, NewVersion
from treadle.datasets._stats import files_stats, table_stats
from treadle.datasets._store import check_name
from treadle.datasets._validate import as_frame, infer_schema, resolve_schema, to_yaml, validate
from treadle.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    import pyarrow as pa

    from treadle.datasets._service import DatasetService

PART_ROWS = 500_000
Entry = tuple[str, str, int]  # (path, digest, size)
TABULAR = {".csv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson", ".arrow", ".feather", ".ipc", ".tsv"}


@dataclass
class Options:
    description: str | None = None
    tags: dict[str, str] | None = None
    schema: Any = None
    kind: str | None = None  # "table" | "files" | None (decided from the source)
    run_id: str | None = None
    created_by: str | None = None
    part_rows: int = PART_ROWS
    progress: bool = False


def snapshot(service: DatasetService, blobs: BlobStore, name: str, source: Any, opts: Options) -> CreateResult:
    """Snapshot ``source`` as the next version of ``name`` (see the module docstring)."""
    check_name(name)  # before any hashing or upload
    if opts.part_rows < 1:
        raise InvalidArgument("part_rows must be at least 1")
    try:
        latest: DatasetVersion | None = service.resolve(name)
    except NotFound:
        latest = None
    kind = opts.kind or _kind_of(source)
    if kind == "files":
        return _snapshot_files(service, blobs, name, source, latest, opts)
    if kind != "table":
        raise InvalidArgument(f"kind must be 'table' or 'files', not {kind!r}")
    return _snapshot_table(service, blobs, name, source, latest, opts)


def _kind_of(source: Any) -> str:
    """Folders (or URLs) of non-tabular files are file collections; everything else is a table."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if "://" not in text:
            path = Path(text).expanduser()
            if path.is_dir():
                suffixes = {p.suffix.lower() for p in _walk_sample(path)}
                return "table" if suffixes and suffixes <= TABULAR else "files"
            if not path.exists():
                raise NotFound(f"no file or folder at {path}")
            return "table"
        suffix = Path(text.split("?")[0].rstrip("/")).suffix.lower()
        return "table" if suffix in TABULAR or "*" in text else "files"
    return "table"


def _walk_sample(root: Path, limit: int = 1000) -> Iterator[Path]:
    for i, (_, path, _, _) in enumerate(_walk(root)):
        if i >= limit:
            return
        yield Path(path)


# ---------------------------------------------------------------------------- tables
def _batches(source: Any) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    if isinstance(source, pa.Table):
        yield from source.to_batches()
        return
    if isinstance(source, pa.RecordBatch):
        yield source
        return
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pd = None
    if pd is not None and isinstance(source, pd.DataFrame):
        yield from pa.Table.from_pandas(source, preserve_index=False).to_batches()
        return
    from treadle.data import as_source

    yield from as_source(source).iter_batches()


def _snapshot_table(
    service: DatasetService, blobs: BlobStore, name: str, source: Any, latest: DatasetVersion | None, opts: Options
) -> CreateResult:
    import pyarrow as pa
    import pyarrow.parquet as pq

    checker, infer = resolve_schema(opts.schema, latest.pandera_schema if latest else None, latest is not None)
    tmp = Path(tempfile.mkdtemp(prefix="treadle-dataset-"))
    try:
        parts: list[Path] = []
        pending: list[pa.RecordBatch] = []
        pending_rows = rows = 0
        schema: pa.Schema | None = None

        def flush(final: bool) -> None:
            nonlocal pending, pending_rows
            while pending_rows >= opts.part_rows or (final and pending_rows):
                table = pa.Table.from_batches(pending, schema=schema)
                head, rest = table.slice(0, opts.part_rows), table.slice(opts.part_rows)
                path = tmp / f"part-{len(parts):05d}.parquet"
                pq.write_table(head, path, compression="zstd")
                parts.append(path)
                pending, pending_rows = rest.to_batches(), rest.num_rows

        for batch in _batches(source):
            if schema is None:
                schema = batch.schema
            elif batch.schema != schema:
                batch = _conform(batch, schema, rows)
            if batch.num_rows == 0:
                continue
            if checker is None and infer:
                checker = infer_schema(batch)
            if checker is not None:
                validate(checker, as_frame(checker, batch), rows)
            pending.append(batch)
            pending_rows += batch.num_rows
            rows += batch.num_rows
            flush(final=False)
        flush(final=True)
        if schema is None:
            raise InvalidArgument(f"the source for dataset {name!r} yielded no data (not even a schema)")
        if not parts:  # an empty table still records its schema
            path = tmp / "part-00000.parquet"
            pq.write_table(schema.empty_table(), path, compression="zstd")
            parts.append(path)
        columns = [ColumnSchema(name=f.name, type=str(f.type), nullable=f.nullable) for f in schema]
        local = [(p.name, str(p)) for p in parts]
        new = NewVersion(
            kind="table",
            num_rows=rows,
            columns=columns,
            pandera_schema=to_yaml(checker) if checker is not None else None,
            stats=table_stats([str(p) for p in parts]),
            **_common(source, opts),
        )
        return _record(service, blobs, name, latest, new, _hash_all(local), local_paths=dict(local), opts=opts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _conform(batch: pa.RecordBatch, schema: pa.Schema, first_row: int) -> pa.RecordBatch:
    if set(batch.schema.names) != set(schema.names):
        extra = sorted(set(batch.schema.names) - set(schema.names))
        missing = sorted(set(schema.names) - set(batch.schema.names))
        raise InvalidArgument(
            f"the columns change at row {first_row}: "
            + "; ".join(
                s
                for s in (f"new columns {extra}" if extra else "", f"missing columns {missing}" if missing else "")
                if s
            )
        )
    try:
        return batch.select(schema.names).cast(schema)
    except Exception as exc:
        raise InvalidArgument(f"the column types change at row {first_row} and cannot be converted: {exc}") from None


def _hash_all(files: Sequence[tuple[str, str]]) -> list[Entry]:
    out = []
    for rel, path in files:
        info = hash_file(path)
        out.append((rel, info.digest, info.size))
    return out


def _common(source: Any, opts: Options) -> dict[str, Any]:
    return dict(
        source=_describe(source),
        description=opts.description,
        tags={str(k): str(v) for k, v in (opts.tags or {}).items()},
        run_id=opts.run_id,
        created_by=opts.created_by,
    )


def _describe(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        return text if "://" in text else os.path.abspath(text)
    from treadle.data.base import Source

    if isinstance(source, Source):  # not any ``describe``: pandas' and Polars' compute statistics
        return source.describe()[:1000]
    return type(source).__module__.split(".")[0] + "." + type(source).__name__


# ---------------------------------------------------------------------------- file collections
def _walk(root: Path) -> Iterator[tuple[str, str, int, int]]:
    """(relative posix path, absolute path, size, mtime_ns) of every file, skipping dotfiles.
    Symlinks are followed, except a link to a folder that contains it (a loop)."""
    top = root.stat()
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [(str(root), "", frozenset({(top.st_dev, top.st_ino)}))]
    while stack:
        folder, rel, ancestors = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=True):
                    st = entry.stat()
                    here = (st.st_dev, st.st_ino)
                    if here not in ancestors:
                        stack.append((entry.path, f"{rel}{entry.name}/", ancestors | {here}))
                elif entry.is_file(follow_symlinks=True):
                    st = entry.stat()
                    yield f"{rel}{entry.name}", entry.path, st.st_size, st.st_mtime_ns


def _snapshot_files(
    service: DatasetService, blobs: BlobStore, name: str, source: Any, latest: DatasetVersion | None, opts: Options
) -> CreateResult:
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgument("a file collection is made from a folder path or URL")
    text = os.fspath(source)
    if "://" in text:
        return _snapshot_remote_files(service, blobs, name, text, latest, opts)
    root = Path(text).expanduser().resolve()
    if not root.is_dir():
        raise InvalidArgument(f"{root} is not a folder: a file collection is made from a folder")
    cache = HashCache()
    try:
        known = cache.load(str(root))
        entries: list[Entry] = []
        local: dict[str, str] = {}
        to_hash: list[tuple[str, str, int, int]] = []
        for rel, path, size, mtime in _walk(root):
            local[rel] = path
            hit = known.get(path)
            if hit is not None and hit[0] == size and hit[1] == mtime:
                entries.append((rel, hit[2], size))
            else:
                to_hash.append((rel, path, size, mtime))
        with ThreadPoolExecutor(max_workers=4) as pool:
            for rel, path, size, mtime, digest in pool.map(_hash_one, to_hash):
                entries.append((rel, digest, size))
                cache.put(path, size, mtime, digest)
        cache.commit()
    finally:
        cache.close()
    if not entries:
        raise InvalidArgument(f"{root} holds no files (dotfiles are skipped)")
    new = NewVersion(
        kind="files",
        num_rows=len(entries),
        columns=_file_columns(),
        stats=files_stats([(path, size) for path, _, size in entries]),
        **_common(root, opts),
    )
    return _record(service, blobs, name, latest, new, entries, local_paths=local, opts=opts)


def _hash_one(item: tuple[str, str, int, int]) -> tuple[str, str, int, int, str]:
    rel, path, _, mtime = item
    info = hash_file(path)
    return rel, path, info.size, mtime, info.digest


def _file_columns() -> list[ColumnSchema]:
    return [
        ColumnSchema(name="path", type="string", nullable=False),
        ColumnSchema(name="size", type="int64", nullable=False),
        ColumnSchema(name="digest", type="string", nullable=False),
    ]


def _snapshot_remote_files(
    service: DatasetService, blobs: BlobStore, name: str, url: str, latest: DatasetVersion | None, opts: Options
) -> CreateResult:
    """A folder behind an fsspec URL: every file is read once to hash and upload it."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    found = fs.find(root, detail=True)
    if not found:
        raise NotFound(f"no files under {url}")
    entries: list[Entry] = []
    for path in sorted(found):
        rel = path[len(root) + 1 :]
        if not rel or any(part.startswith(".") for part in rel.split("/")):
            continue
        data = fs.cat_file(path)
        info = blobs.put_bytes(data)
        entries.append((rel, info.digest, info.size))
    new = NewVersion(
        kind="files",
        num_rows=len(entries),
        columns=_file_columns(),
        stats=files_stats([(path, size) for path, _, size in entries]),
        **_common(url, opts),
    )
    return _record(service, blobs, name, latest, new, entries, local_paths={}, opts=opts)


# ---------------------------------------------------------------------------- recording
def _record(
    service: DatasetService,
    blobs: BlobStore,
    name: str,
    latest: DatasetVersion | None,
    new: NewVersion,
    entries: list[Entry],
    local_paths: dict[str, str],
    opts: Options,
) -> CreateResult:
    """Upload what the store lacks, then record the version as a change set against ``latest``."""
    base: dict[str, str] = {}
    if latest is not None:
        index = service.file_index(name, latest.version)
        base = dict(zip(index.paths, index.digests, strict=True))
    changed = [FileChange(path=p, digest=d, size=n) for p, d, n in entries if base.get(p) != d]
    present = {p for p, _, _ in entries}
    removed = [p for p in base if p not in present]
    base_digests = set(base.values())
    candidates = sorted({e.digest for e in changed} - base_digests)
    missing = set(service.missing_blobs(candidates)) if candidates else set()
    uploads = {e.digest: local_paths[e.path] for e in changed if e.digest in missing and e.path in local_paths}
    if uploads:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda item: _upload(blobs, *item), uploads.items()))
    change = new.model_copy(
        update={"base_version": latest.version if latest else None, "files": changed, "removed": removed}
    )
    return service.create_version(name, change)


def _upload(blobs: BlobStore, digest: str, path: str) -> None:
    try:
        with open(path, "rb") as f:
            blobs.put_stream(iter(lambda: f.read(1 << 20), b""), expected=digest)
    except InvalidArgument as exc:  # the file changed between hashing and upload
        raise InvalidArgument(f"{path} changed while it was being snapshotted; run the create again ({exc})") from None
