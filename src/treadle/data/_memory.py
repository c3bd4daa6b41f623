"""In-memory sources: an Arrow table (also what DataFrames become) and Python iterables."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from treadle.data._util import check_batch_size, conform, rebatch, unify
from treadle.data.base import Source
from treadle.errors import InvalidArgument


class TableSource(Source):
    """An Arrow table held in memory (pandas and Polars frames are converted to one)."""

    kind = "table"

    def __init__(self, table: pa.Table, name: str | None = None) -> None:
        self.table = table
        self.name = name

    def schema(self) -> pa.Schema:
        return self.table.schema

    def iter_batches(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        yield from self.table.to_batches(max_chunksize=check_batch_size(batch_size))

    def to_arrow(self) -> pa.Table:
        return self.table

    def num_rows(self) -> int | None:
        return int(self.table.num_rows)

    def spec(self) -> dict[str, Any]:
        """Describes the table; in-memory data cannot be re-opened from a spec (save it first)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "num_rows": self.table.num_rows,
            "columns": self.table.column_names,
        }

    def describe(self) -> str:
        label = f"{self.name}: " if self.name else ""
        return f"{label}in-memory table, {self.table.num_rows} rows x {self.table.num_columns} columns"


class IterableSource(Source):
    """Rows from a Python iterable of dicts (or of record batches / tables / DataFrames).

    Pass a list or a zero-argument callable returning an iterable to read it more than once; a
    plain iterator or generator can be read once. With ``schema`` the rows are typed by it (missing
    keys become nulls); without, types are inferred from the first batch and later batches are cast.
    """

    kind = "iterable"

    def __init__(self, iterable: Iterable[Any] | Callable[[], Iterable[Any]], schema: pa.Schema | None = None) -> None:
        self._factory: Callable[[], Iterable[Any]] | None = None
        self._pending: Iterator[pa.RecordBatch] | None = None
        if callable(iterable) and not isinstance(iterable, Iterable):
            self._factory = iterable
        elif iter(iterable) is iterable:  # an iterator or generator: one pass only
            self._pending = self._batches(iter(iterable), 4096)
        else:
            self._factory = lambda: iterable
        self._schema = schema
        self._given = schema is not None

    def _batches(self, items: Iterator[Any], chunk_rows: int) -> Iterator[pa.RecordBatch]:
        while True:
            chunk = list(itertools.islice(items, chunk_rows))
            if not chunk:
                return
            if all(isinstance(r, dict) for r in chunk):
                try:
                    yield pa.RecordBatch.from_pylist(chunk, schema=self._schema if self._given else None)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise InvalidArgument(f"rows of an iterable do not fit one schema: {exc}") from exc
                continue
            for item in chunk:
                yield from _as_batches(item)

    def _stream(self, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        if self._factory is not None:
            return self._batches(iter(self._factory()), chunk_rows)
        if self._pending is None:
            raise InvalidArgument(
                "this IterableSource wrapped an iterator that was already read: pass a list or a callable"
            )
        stream, self._pending = self._pending, None
        return stream

    def schema(self) -> pa.Schema:
        if self._schema is None:
            stream = self._stream(1024)
            first = next(stream, None)
            if self._factory is None:  # one-shot: keep what was read for iter_batches
                self._pending = itertools.chain([first] if first is not None else [], stream)
            self._schema = first.schema if first is not None else pa.schema([])
        return self._schema

    def iter_batches(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        check_batch_size(batch_size)
        yield from rebatch(self._conformed(batch_size), batch_size)

    def _conformed(self, batch_size: int) -> Iterator[pa.RecordBatch]:
        schema = self._schema
        for batch in self._stream(batch_size):
            if schema is None:
                schema = self._schema = batch.schema
            elif not self._given and not batch.schema.equals(schema):  # inferred: widen as rows reveal types
                schema = self._schema = unify([schema, batch.schema], "an iterable")
            yield conform(batch, schema, "an iterable")

    def spec(self) -> dict[str, Any]:
        """Describes the source; in-memory data cannot be re-opened from a spec (save it first)."""
        return {"kind": self.kind, "columns": self._schema.names if self._schema is not None else None}

    def describe(self) -> str:
        return "Python iterable"


def _as_batches(item: Any) -> Iterator[pa.RecordBatch]:
    if isinstance(item, pa.RecordBatch):
        yield item
    elif isinstance(item, pa.Table):
        yield from item.to_batches()
    else:
        from treadle.data._resolve import as_source

        try:
            src = as_source(item)
        except InvalidArgument as exc:
            raise InvalidArgument(
                f"an iterable source yielded a {type(item).__name__}: yield dicts or batches"
            ) from exc
        yield from src.iter_batches()
