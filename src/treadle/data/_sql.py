"""SQL databases through SQLAlchemy (SQLite, PostgreSQL, ...): a query as a source."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from treadle.data._util import check_batch_size, concat, expand_url, mask_url
from treadle.data.base import Source
from treadle.errors import InvalidArgument

_ENGINES: dict[str, sa.Engine] = {}


def engine_for(url: str, what: str = "database") -> sa.Engine:
    """One engine per URL per process (``${VAR}`` expanded from the environment)."""
    real = expand_url(url, what)
    engine = _ENGINES.get(real)
    if engine is None:
        try:
            engine = sa.create_engine(real, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise InvalidArgument(f"cannot open {what} {mask_url(url)!r}: {exc}") from exc
        _ENGINES[real] = engine
    return engine


class SqlSource(Source):
    """The rows of a SQL query, streamed in batches (server-side cursor where the driver has one).

    ``params`` bind ``:name`` placeholders. Column types are inferred from the values of each
    batch (a column that is all NULL in one batch is widened once later batches tell its type).
    Put passwords in the environment and write them as ``${VAR}`` in the URL: specs mask literal ones.
    """

    kind = "sql"

    def __init__(self, url: str, query: str, params: dict[str, Any] | None = None) -> None:
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgument("SqlSource needs a query, e.g. 'SELECT * FROM my_table'")
        self.url = url
        self.query = query
        self.params = dict(params or {})
        self._schema: pa.Schema | None = None

    def _rows(self, batch_size: int) -> Iterator[tuple[list[str], Sequence[Any]]]:
        engine = engine_for(self.url)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                    sa.text(self.query), self.params
                )
                names = list(result.keys())
                empty = True
                for part in result.partitions(batch_size):
                    empty = False
                    yield names, part
                if empty:
                    yield names, []
        except sa.exc.DBAPIError as exc:
            raise InvalidArgument(f"query failed on {mask_url(self.url)}: {exc.orig}\nquery: {self.query}") from exc

    def iter_batches(self, batch_size: int = 65_536) -> Generator[pa.RecordBatch, None, None]:
        check_batch_size(batch_size)
        for names, rows in self._rows(batch_size):
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
            try:
                arrays = [pa.array(list(col)) for col in columns]
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise InvalidArgument(f"cannot convert the result of {self.describe()} to Arrow: {exc}") from exc
            batch = pa.RecordBatch.from_arrays(arrays, names=names)
            if self._schema is None:
                self._schema = batch.schema
            if batch.num_rows or not rows:
                yield batch

    def schema(self) -> pa.Schema:
        if self._schema is None:
            batches = self.iter_batches(1000)
            next(batches, None)
            batches.close()
        assert self._schema is not None
        return self._schema

    def to_arrow(self) -> pa.Table:
        tables = [pa.Table.from_batches([b]) for b in self.iter_batches()]
        return concat(tables, self._schema)

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.kind, "url": mask_url(self.url), "query": self.query}
        if self.params:
            spec["params"] = self.params
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SqlSource:
        return cls(spec["url"], spec["query"], spec.get("params"))

    def describe(self) -> str:
        query = " ".join(self.query.split())
        return f"sql on {mask_url(self.url)}: {query[:80]}{'...' if len(query) > 80 else ''}"
