"""``read`` and ``write``: one call from a path or URI to an Arrow table, and back."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import os
import tempfile
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from treadle.data import _codecs
from treadle.data._files import FileSource, open_fs
from treadle.errors import InvalidArgument

WRITE_OPTIONS: dict[str, tuple[str, ...]] = {
    "csv": ("delimiter", "include_header"),
    "parquet": ("compression", "row_group_size"),
    "json": (),
    "jsonl": (),
    "arrow": ("compression",),
}


def read(
    uri_or_path: str | os.PathLike[str],
    format: str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    **options: Any,
) -> pa.Table:
    """Read a file, folder or glob (local or any fsspec URI) into one Arrow table.

    ``format`` defaults to the extension (``csv``, ``parquet``, ``json``, ``jsonl``, ``arrow``,
    ``image``, ``text``); a malformed file raises InvalidArgument naming it."""
    return FileSource(uri_or_path, format, storage_options=storage_options, **options).to_arrow()


def write(
    table: Any,
    uri_or_path: str | os.PathLike[str],
    format: str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    **options: Any,
) -> None:
    """Write a table (Arrow, pandas, Polars, rows...) as one file. Local writes are atomic
    (temp file + rename); object stores make the object visible once the upload completes.
    ``.gz``/``.bz2``/``.zst`` on a text format compresses it."""
    from treadle.data._resolve import as_source

    uri = str(uri_or_path)
    fmt = format or _codecs.format_of(uri)
    if fmt is None:
        raise InvalidArgument(f"cannot tell the format of {uri!r} from its name: pass format=")
    if fmt not in WRITE_OPTIONS:
        raise InvalidArgument(
            f"cannot write format {fmt!r}: use one of {', '.join(WRITE_OPTIONS)} "
            "(images and text files are copied, not encoded)"
        )
    unknown = sorted(set(options) - set(WRITE_OPTIONS[fmt]))
    if unknown:
        raise InvalidArgument(
            f"unknown option(s) {', '.join(unknown)} for writing {fmt!r} "
            f"(allowed: {', '.join(WRITE_OPTIONS[fmt]) or 'none'})"
        )
    tbl = table if isinstance(table, pa.Table) else as_source(table).to_arrow()
    compression = _codecs.compression_of(uri) if fmt in ("csv", "json", "jsonl") else None
    fs, path = open_fs(uri, storage_options)
    if isinstance(fs, LocalFileSystem):
        folder = os.path.dirname(path) or "."
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        os.close(fd)
        try:
            with pa.OSFile(tmp, "wb") as out:
                _encode(tbl, out, fmt, compression, options)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return
    buf = pa.BufferOutputStream()
    _encode(tbl, buf, fmt, compression, options)
    parent = path.rsplit("/", 1)[0]
    if parent and parent != path:
        fs.makedirs(parent, exist_ok=True)
    fs.pipe_file(path, buf.getvalue().to_pybytes())


def _encode(tbl: pa.Table, out: pa.NativeFile, fmt: str, compression: str | None, options: dict[str, Any]) -> None:
    sink: pa.NativeFile = pa.CompressedOutputStream(out, compression) if compression else out
    if fmt == "parquet":
        pq.write_table(tbl, sink, **options)
    elif fmt == "arrow":
        with pa.ipc.new_file(sink, tbl.schema, options=pa.ipc.IpcWriteOptions(**options)) as writer:
            writer.write_table(tbl)
    elif fmt == "csv":
        pcsv.write_csv(tbl, sink, pcsv.WriteOptions(**options))
    elif fmt == "json":
        sink.write(orjson.dumps(tbl.to_pylist(), default=_json_default))
    else:
        for batch in tbl.to_batches(max_chunksize=10_000):
            sink.write(b"".join(orjson.dumps(r, default=_json_default) + b"\n" for r in batch.to_pylist()))
    if compression:
        sink.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
