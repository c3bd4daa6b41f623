"""Turning what users hold (frames, tables, paths, URIs, rows, specs) into a :class:`Source`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa

from treadle.data._files import FileSource
from treadle.data._memory import IterableSource, TableSource
from treadle.data._sql import SqlSource
from treadle.data._stream import RedisStreamSource
from treadle.data.base import Source
from treadle.errors import InvalidArgument

_FROM_SPEC: dict[str, Callable[[dict[str, Any]], Source]] = {
    "file": FileSource.from_spec,
    "sql": SqlSource.from_spec,
    "redis_stream": RedisStreamSource.from_spec,
}
_DATABASES = ("sqlite", "postgresql", "postgres", "mysql", "mssql", "oracle", "duckdb")


def source_from_spec(spec: dict[str, Any]) -> Source:
    """Re-open a source from its :meth:`Source.spec`. In-memory sources (tables, iterables) cannot
    be re-opened: write them to a file or a dataset first."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise InvalidArgument(f"a source spec is a dict with a 'kind', got {spec!r:.200}")
    kind = spec["kind"]
    factory = _FROM_SPEC.get(kind)
    if factory is None:
        if kind in (TableSource.kind, IterableSource.kind):
            raise InvalidArgument(
                f"a {kind!r} source held data in memory and cannot be re-opened from its spec: "
                "write it to a file (treadle.data.write) or a dataset first"
            )
        raise InvalidArgument(f"unknown source kind {kind!r}: known kinds are {', '.join(sorted(_FROM_SPEC))}")
    try:
        return factory(spec)
    except KeyError as exc:
        raise InvalidArgument(f"the {kind!r} source spec lacks {exc.args[0]!r}") from exc


def as_source(obj: Any) -> Source:
    """A :class:`Source` from a Source, a pyarrow Table/RecordBatch/RecordBatchReader, a pandas or
    Polars DataFrame (or LazyFrame), a dict of columns, a local path (file, folder, glob), an fsspec
    URI (``s3://``, ``http(s)://``, ``memory://``, ``file://``), or an iterable of row dicts."""
    if isinstance(obj, Source):
        return obj
    if isinstance(obj, pa.Table):
        return TableSource(obj)
    if isinstance(obj, pa.RecordBatch):
        return TableSource(pa.Table.from_batches([obj]))
    if isinstance(obj, pa.RecordBatchReader):
        return IterableSource(iter(obj), schema=obj.schema)
    module = type(obj).__module__.split(".")[0]
    if module == "pandas" and type(obj).__name__ == "DataFrame":
        return TableSource(_from_pandas(obj))
    if module == "polars" and type(obj).__name__ in ("DataFrame", "LazyFrame"):
        frame = obj.collect() if type(obj).__name__ == "LazyFrame" else obj
        return TableSource(frame.to_arrow())
    if isinstance(obj, str | os.PathLike):
        text = os.fspath(obj)
        scheme = text.split("://", 1)[0].split("+", 1)[0].lower() if "://" in text else ""
        if scheme in _DATABASES:
            raise InvalidArgument(
                f"{text.split('://')[0]}:// is a database URL: use SqlSource(url, query) to read from it"
            )
        return FileSource(text)
    if isinstance(obj, dict):
        try:
            return TableSource(pa.table(obj))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise InvalidArgument(f"a dict source must map column names to equal-length lists: {exc}") from exc
    if isinstance(obj, Iterable) and not isinstance(obj, bytes | bytearray):
        return IterableSource(obj)
    raise InvalidArgument(
        f"cannot read data from a {type(obj).__name__}: pass a DataFrame, an Arrow table, a path, "
        "a URI, an iterable of dicts or a Source"
    )


def _from_pandas(df: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgument(f"cannot convert the DataFrame to Arrow: {exc}") from exc
