"""DuckDB over treadle sources and remote files — fsspec filesystems registered, never ``httpfs``.

DuckDB would download its ``httpfs`` extension to read ``s3://``/``http://`` paths, which fails
offline; here every remote scheme named in the query is served by the matching fsspec filesystem
(``register_filesystem``) and extension auto-install/auto-load is off.
"""

from __future__ import annotations

import re
from typing import Any

import fsspec
import pyarrow as pa

from treadle.errors import InvalidArgument

_SCHEME = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://")
_LOCAL = {"file", "local"}


def duckdb_connect(*uris: str, storage_options: dict[str, Any] | None = None) -> Any:
    """A DuckDB connection (no extension downloads) with fsspec filesystems registered for the
    schemes the given URIs (or SQL text) name, e.g. ``duckdb_connect("s3://bucket/x.parquet")``."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    register_filesystems(con, *uris, storage_options=storage_options)
    return con


def register_filesystems(con: Any, *texts: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Register an fsspec filesystem with ``con`` for each remote scheme in ``texts``; returns them."""
    schemes = sorted({m.lower() for t in texts for m in _SCHEME.findall(t)} - _LOCAL)
    registered = set(con.list_filesystems())
    for scheme in schemes:
        if scheme in registered:
            continue
        try:
            fs = fsspec.filesystem(scheme, **(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise InvalidArgument(f"cannot read {scheme}:// data: {exc}") from exc
        try:
            con.register_filesystem(fs)
        except Exception as exc:  # one filesystem serves several schemes (s3, s3a): registered once
            if "already been registered" not in str(exc):
                raise
        registered.update(con.list_filesystems())
    return schemes


def query(sql: str, *, storage_options: dict[str, Any] | None = None, **tables: Any) -> pa.Table:
    """Run DuckDB SQL over named tables (anything :func:`as_source` accepts, streamed in batches so
    larger-than-memory sources work) and over remote files the SQL names; returns an Arrow table."""
    import duckdb

    from treadle.data._memory import TableSource
    from treadle.data._resolve import as_source

    con = duckdb_connect(sql, storage_options=storage_options)
    try:
        for name, obj in tables.items():
            src = as_source(obj)
            if isinstance(src, TableSource):
                con.register(name, src.table)
            else:
                con.register(name, pa.RecordBatchReader.from_batches(src.schema(), src.iter_batches()))
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise InvalidArgument(f"query failed: {exc}") from exc
    finally:
        con.close()
