"""``@transform``: one function over a batch that runs in batch, in streaming and online.

The function takes a batch (its first parameter's annotation picks the format: ``pa.Table``,
``pa.RecordBatch``, ``pd.DataFrame`` or ``pl.DataFrame``; Arrow tables when unannotated) and
returns a batch. Batch runs feed it chunks, streaming runs feed it micro-batches, and
:meth:`Transform.online` feeds it one row as a one-row batch — the same code path, so training
and serving cannot skew. The Arrow schema of the first batch run is kept (``input_schema``, also in
the spec) and online rows are cast to it, so a row gets the types its batch would have had.
"""

from __future__ import annotations

import base64
import functools
import inspect
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import cloudpickle
import pyarrow as pa

from treadle.data._formats import format_from_annotation, format_of_value, normalize_format, to_arrow, to_format
from treadle.data._util import check_batch_size, concat
from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    from treadle.data._checkpoint import Checkpoint
    from treadle.data._run_stream import StreamStats
    from treadle.data.base import Sink, StreamSource


class Transform:
    """A batch function usable in batch (:meth:`run_batch`), streaming (:meth:`run_stream`) and online
    (:meth:`online`); calling it (``t(batch)``) returns a batch of the type passed in."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        batch_format: str | None = None,
        input_schema: pa.Schema | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidArgument(f"@transform wraps a function, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "transform")
        self.batch_format = normalize_format(batch_format) if batch_format else (format_from_annotation(fn) or "arrow")
        self.input_schema = input_schema
        self.source_text: str | None = None  # set when loaded from a spec (the code itself has no file)
        functools.update_wrapper(self, fn)

    # -- the one code path ---------------------------------------------------------------------
    def apply_arrow(self, table: pa.Table) -> pa.Table:
        """Run the function on an Arrow table (converted to its batch format), return Arrow."""
        return to_arrow(self.fn(to_format(table, self.batch_format)), f"transform {self.name!r}")

    def __call__(self, batch: Any) -> Any:
        fmt = format_of_value(batch)
        if fmt is None:
            raise InvalidArgument(
                f"transform {self.name!r} takes a batch (pa.Table, pa.RecordBatch, pandas or Polars DataFrame), "
                f"got {type(batch).__name__}; for one row use .online(row)"
            )
        if fmt == self.batch_format:
            out = self.fn(batch)
            if format_of_value(out) == fmt:
                return out
            return to_format(to_arrow(out, f"transform {self.name!r}"), fmt)
        return to_format(self.apply_arrow(to_arrow(batch, "the input")), fmt)

    # -- online --------------------------------------------------------------------------------
    def _rows_table(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        try:
            table = pa.Table.from_pylist([dict(r) for r in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgument(f"transform {self.name!r}: the rows do not fit one schema: {exc}") from exc
        schema = self.input_schema
        if schema is None:
            return table
        names = [f.name for f in schema if f.name in table.column_names]
        names += [n for n in table.column_names if n not in names]
        columns = []
        for name in names:
            col = table.column(name)
            idx = schema.get_field_index(name)
            if idx >= 0 and not col.type.equals(schema.field(idx).type):
                try:
                    col = col.cast(schema.field(idx).type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise InvalidArgument(
                        f"transform {self.name!r}: field {name!r} does not fit its batch type "
                        f"{schema.field(idx).type}: {exc}"
                    ) from exc
            columns.append(col)
        return pa.Table.from_arrays(columns, names=names)

    def online(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One row (a dict) through the same function, as a one-row batch; returns the output row."""
        if not isinstance(row, Mapping):
            raise InvalidArgument(f"transform {self.name!r}.online takes one row as a dict, got {type(row).__name__}")
        out = self.apply_arrow(self._rows_table([row]))
        if out.num_rows != 1:
            raise InvalidArgument(
                f"transform {self.name!r} returned {out.num_rows} rows for one input row: online use needs "
                "a row-wise transform (one output row per input row)"
            )
        return out.to_pylist()[0]

    def online_many(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Several rows in one call (one batch), e.g. all entities of one request."""
        if not rows:
            return []
        return self.apply_arrow(self._rows_table(rows)).to_pylist()

    # -- batch ---------------------------------------------------------------------------------
    def run_batch(
        self,
        source: Any,
        sink: Sink | None = None,
        *,
        chunk_size: int = 65_536,
        executor: str = "local",
        progress: bool = False,
    ) -> pa.Table | None:
        """Run over a source chunk by chunk. With a sink each output chunk goes to it (batch ids
        ``00000000``, ``00000001``...; a rerun overwrites) and memory stays bounded by one chunk;
        without one the output is returned as one table. ``executor="ray"`` runs the chunks on
        Ray Data (``map_batches``); ``progress=True`` shows a rich progress bar."""
        from treadle.data._resolve import as_source

        check_batch_size(chunk_size)
        src = as_source(source)
        if executor == "ray":
            from treadle.data._ray import run_on_ray

            return run_on_ray(self, src, sink, chunk_size=chunk_size, progress=progress)
        if executor != "local":
            raise InvalidArgument(f"unknown executor {executor!r}: use 'local' or 'ray'")
        outs: list[pa.Table] = []
        with _progress(progress, f"transform {self.name}", src.num_rows()) as advance:
            for i, batch in enumerate(src.iter_batches(chunk_size)):
                if self.input_schema is None:
                    self.input_schema = batch.schema
                out = self.apply_arrow(pa.Table.from_batches([batch]))
                if sink is not None:
                    sink.write(f"{i:08d}", out)
                else:
                    outs.append(out)
                advance(batch.num_rows)
        if sink is not None:
            return None
        if not outs:
            return self.apply_arrow(src.schema().empty_table())
        return concat(outs)

    # -- streaming -----------------------------------------------------------------------------
    def run_stream(
        self,
        stream: StreamSource,
        sink: Sink,
        *,
        checkpoint: Checkpoint,
        batch_size: int = 1000,
        block_ms: int = 1000,
        max_batches: int | None = None,
        until_idle: bool = False,
    ) -> StreamStats:
        """Consume a stream in micro-batches, exactly once (see :func:`treadle.data._run_stream.run_stream`)."""
        from treadle.data._run_stream import run_stream

        return run_stream(
            self,
            stream,
            sink,
            checkpoint=checkpoint,
            batch_size=batch_size,
            block_ms=block_ms,
            max_batches=max_batches,
            until_idle=until_idle,
        )

    # -- specs ---------------------------------------------------------------------------------
    def pickled(self) -> bytes:
        """The function pickled by value (its module need not be importable where it is loaded)."""
        module = sys.modules.get(getattr(self.fn, "__module__", "") or "")
        by_value = (
            isinstance(self.fn, types.FunctionType)
            and module is not None
            and module.__name__ != "__main__"
            and not module.__name__.startswith("treadle.")
        )
        if by_value:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps(self.fn)
        finally:
            if by_value:
                cloudpickle.unregister_pickle_by_value(module)

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable: name, batch format, source text, the pickled function (base64) and the
        input schema. Loading it (:meth:`from_spec`) unpickles code: only load specs you trust."""
        source: str | None = getattr(self, "source_text", None)  # kept from the spec it was loaded from
        if source is None:
            try:
                source = inspect.getsource(self.fn)
            except (OSError, TypeError):
                source = None
        schema = base64.b64encode(self.input_schema.serialize().to_pybytes()).decode() if self.input_schema else None
        return {
            "kind": "transform",
            "name": self.name,
            "batch_format": self.batch_format,
            "source": source,
            "function": base64.b64encode(self.pickled()).decode(),
            "input_schema": schema,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Transform:
        try:
            fn = cloudpickle.loads(base64.b64decode(spec["function"]))
        except KeyError as exc:
            raise InvalidArgument("a transform spec needs 'function' (the base64 cloudpickled function)") from exc
        except Exception as exc:
            raise InvalidArgument(
                f"cannot load transform {spec.get('name')!r} (pickled on Python {spec.get('python')}): {exc}"
            ) from exc
        raw = spec.get("input_schema")
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw))) if raw else None
        loaded = cls(fn, name=spec.get("name"), batch_format=spec.get("batch_format"), input_schema=schema)
        loaded.source_text = spec.get("source")
        return loaded

    def __repr__(self) -> str:
        return f"<Transform {self.name} ({self.batch_format})>"


class _progress:
    """A rich progress bar when asked for, else a no-op; yields ``advance(rows)``."""

    def __init__(self, enabled: bool, label: str, total: int | None) -> None:
        self.enabled, self.label, self.total = enabled, label, total
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda _rows: None
        from rich.progress import Progress

        self._bar = Progress()
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda rows: self._bar.advance(task, rows)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


@overload
def transform(fn: Callable[..., Any], /) -> Transform: ...
@overload
def transform(
    *, name: str | None = None, batch_format: str | None = None, input_schema: pa.Schema | None = None
) -> Callable[[Callable[..., Any]], Transform]: ...
def transform(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    batch_format: str | None = None,
    input_schema: pa.Schema | None = None,
) -> Transform | Callable[[Callable[..., Any]], Transform]:
    """Make a batch function a :class:`Transform`: ``@transform`` or ``@transform(name=..., batch_format=...)``."""
    if fn is not None:
        return Transform(fn, name=name, batch_format=batch_format, input_schema=input_schema)
    return lambda f: Transform(f, name=name, batch_format=batch_format, input_schema=input_schema)
