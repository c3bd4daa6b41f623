"""Sinks: where transformed batches go. Each write replaces an earlier write of the same batch id."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from fsspec.implementations.local import LocalFileSystem

from treadle.data._files import full_uri, open_fs
from treadle.data._sql import engine_for
from treadle.data._util import mask_url
from treadle.data.base import Sink, check_batch_id
from treadle.errors import InvalidArgument

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ParquetSink(Sink):
    """One Parquet file per batch, ``part-<batch_id>.parquet`` in a folder (local or fsspec URI).

    A rewrite of a batch id replaces its file; local writes are atomic (temp + rename), object
    stores show an object only once uploaded. Read the result with ``read(folder)``."""

    def __init__(self, dir_or_uri: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> None:
        uri = str(dir_or_uri)
        self.fs, self.root = open_fs(uri if "://" in uri else os.path.abspath(uri), storage_options)
        self.root = self.root.rstrip("/")
        self.uri = full_uri(self.fs, self.root)
        self._local = isinstance(self.fs, LocalFileSystem)
        self.fs.makedirs(self.root, exist_ok=True)

    def path_for(self, batch_id: str) -> str:
        return f"{self.root}/part-{check_batch_id(batch_id)}.parquet"

    def write(self, batch_id: str, table: pa.Table) -> None:
        path = self.path_for(batch_id)
        if not self._local:
            buf = pa.BufferOutputStream()
            pq.write_table(table, buf)
            self.fs.pipe_file(path, buf.getvalue().to_pybytes())
            return
        fd, tmp = tempfile.mkstemp(prefix=".part-", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                pq.write_table(table, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def __repr__(self) -> str:
        return f"<ParquetSink {self.uri}>"


class CallableSink(Sink):
    """Calls ``fn(batch_id, table)`` for each batch; making it idempotent per batch id is ``fn``'s job."""

    def __init__(self, fn: Callable[[str, pa.Table], Any]) -> None:
        self.fn = fn

    def write(self, batch_id: str, table: pa.Table) -> None:
        self.fn(batch_id, table)


def _sql_type(t: pa.DataType) -> Any:
    if pa.types.is_boolean(t):
        return sa.Boolean()
    if pa.types.is_integer(t):
        return sa.BigInteger()
    if pa.types.is_floating(t):
        return sa.Double()
    if pa.types.is_decimal(t):
        return sa.Numeric(t.precision, t.scale)
    if pa.types.is_timestamp(t):
        return sa.DateTime(timezone=t.tz is not None)
    if pa.types.is_date(t):
        return sa.Date()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return sa.LargeBinary()
    if pa.types.is_nested(t):
        return sa.JSON()
    return sa.Text()


class SqlSink(Sink):
    """Rows appended to a SQL table (created from the first batch's schema when missing).

    Each row carries its batch id in ``batch_column`` (default ``_batch_id``); a write deletes the
    rows of that batch id and inserts the new ones in one transaction, so re-writing a batch after
    a crash leaves it stored once. ``batch_column=None`` appends plainly (not idempotent)."""

    def __init__(self, url: str, table: str, *, batch_column: str | None = "_batch_id") -> None:
        for label, name in (("table", table), ("batch_column", batch_column)):
            if name is not None and not _NAME.match(name):
                raise InvalidArgument(f"{label} name {name!r} is not a plain SQL identifier (letters, digits, _)")
        self.url = url
        self.table_name = table
        self.batch_column = batch_column
        self._table: sa.Table | None = None

    def _resolve(self, conn: sa.Connection, schema: pa.Schema) -> sa.Table:
        if self._table is not None:
            return self._table
        md = sa.MetaData()
        if sa.inspect(conn).has_table(self.table_name):
            table = sa.Table(self.table_name, md, autoload_with=conn)
        else:
            cols = [sa.Column(f.name, _sql_type(f.type)) for f in schema]
            if self.batch_column:
                cols.append(sa.Column(self.batch_column, sa.String(200), index=True))
            table = sa.Table(self.table_name, md, *cols)
            md.create_all(conn, checkfirst=True)
        wanted = [*schema.names, *([self.batch_column] if self.batch_column else [])]
        missing = [c for c in wanted if c not in table.c]
        if missing:
            raise InvalidArgument(
                f"table {self.table_name!r} in {mask_url(self.url)} has no column(s) {', '.join(missing)}: "
                "add them (ALTER TABLE) or write to a new table"
            )
        self._table = table
        return table

    def write(self, batch_id: str, table: pa.Table) -> None:
        check_batch_id(batch_id)
        with engine_for(self.url).begin() as conn:
            target = self._resolve(conn, table.schema)
            if self.batch_column:
                conn.execute(sa.delete(target).where(target.c[self.batch_column] == batch_id))
            rows = table.to_pylist()
            if self.batch_column:
                for row in rows:
                    row[self.batch_column] = batch_id
            if rows:
                conn.execute(sa.insert(target), rows)

    def __repr__(self) -> str:
        return f"<SqlSink {self.table_name} on {mask_url(self.url)}>"
