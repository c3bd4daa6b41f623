"""On-demand transforms: a ``treadle.data`` Transform or a plain function, run over a batch or one row.

A transform travels as a spec: ``{"kind": "transform", "spec": <Transform.spec()>}`` or
``{"kind": "function", "name", "source", "pickle" (cloudpickle, base64), "batch_format"}``.
Plain functions are pickled by value (their module need not be importable where they run).
"""

from __future__ import annotations

import base64
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument, TreadleError

if TYPE_CHECKING:
    import pyarrow as pa

    from treadle.features._definitions import Field

BATCH_FORMATS = ("pandas", "arrow", "polars", "dict")
REPO_MODULE_FLAG = "__treadle_repo__"


def _format_of(fn: Callable[..., Any]) -> str:
    """The batch format from the first parameter's annotation (pandas when there is none)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return "pandas"
    if not params or params[0].annotation is inspect.Parameter.empty:
        return "pandas"
    ann = params[0].annotation
    text = ann if isinstance(ann, str) else f"{getattr(ann, '__module__', '')}.{getattr(ann, '__qualname__', ann)}"
    if "polars" in text or text.startswith("pl."):
        return "polars"
    if "pyarrow" in text or text.startswith("pa.") or text in ("Table", "RecordBatch"):
        return "arrow"
    if text.split("[")[0].rsplit(".", 1)[-1] in ("dict", "Mapping", "Dict"):
        return "dict"
    return "pandas"


def _data_transform_class() -> type | None:
    try:
        from treadle.data import Transform
    except ImportError:  # pragma: no cover - treadle.data ships with treadle
        return None
    return Transform


class TransformLike:
    """A callable with a known batch format; ``run_batch`` / ``run_row`` check the output columns."""

    def __init__(self, fn: Any, batch_format: str, *, data_transform: bool = False, source: str | None = None) -> None:
        self.fn = fn
        self.batch_format = batch_format
        self.data_transform = data_transform
        self.source = source  # the function's text, kept when loaded from a spec

    @classmethod
    def wrap(cls, obj: Any, where: str) -> TransformLike:
        if isinstance(obj, TransformLike):
            return obj
        transform_cls = _data_transform_class()
        if transform_cls is not None and isinstance(obj, transform_cls):
            return cls(obj, str(getattr(obj, "batch_format", "arrow")), data_transform=True)
        if not callable(obj):
            raise InvalidArgument(f"{where}: transform must be a treadle.data Transform or a function, not {obj!r}")
        return cls(obj, _format_of(obj))

    # ------------------------------------------------------------------ running
    def run_batch(self, table: pa.Table, schema: Sequence[Field], where: str) -> pa.Table:
        import pyarrow as pa

        if self.data_transform:  # a treadle.data Transform: its own single Arrow code path
            return _conform(self._call(table, where, self.fn.apply_arrow), table.num_rows, schema, where)
        if self.batch_format == "dict":
            rows = [self._call_row(r, where) for r in table.to_pylist()]
            return _conform(pa.Table.from_pylist(rows) if rows else None, table.num_rows, schema, where)
        batch: Any = table
        if self.batch_format == "pandas":
            batch = table.to_pandas()
        elif self.batch_format == "polars":
            import polars as pl

            batch = pl.from_arrow(table)
        out = self._call(batch, where)
        return _conform(_to_arrow(out, where), table.num_rows, schema, where)

    def run_row(self, row: Mapping[str, Any], schema: Sequence[Field], where: str) -> dict[str, Any]:
        import pyarrow as pa

        if self.batch_format == "dict" or self.data_transform:
            out = self._call_row(dict(row), where)
            missing = [f.name for f in schema if f.name not in out]
            if missing:
                raise InvalidArgument(f"{where}: the transform did not return {missing}")
            return {f.name: out[f.name] for f in schema}
        table = pa.Table.from_pylist([dict(row)])
        return self.run_batch(table, schema, where).to_pylist()[0]

    def _call(self, batch: Any, where: str, fn: Any = None) -> Any:
        try:
            return (fn or self.fn)(batch)
        except TreadleError:
            raise
        except Exception as exc:
            raise InvalidArgument(f"{where}: the transform failed: {type(exc).__name__}: {exc}") from exc

    def _call_row(self, row: dict[str, Any], where: str) -> dict[str, Any]:
        fn = self.fn.online if self.data_transform else self.fn
        try:
            out = fn(row)
        except TreadleError:
            raise
        except Exception as exc:
            raise InvalidArgument(f"{where}: the transform failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(out, Mapping):
            raise InvalidArgument(f"{where}: a row transform must return a dict, not {type(out).__name__}")
        return dict(out)


def _to_arrow(out: Any, where: str) -> pa.Table:
    import pyarrow as pa

    if isinstance(out, pa.Table):
        return out
    if isinstance(out, pa.RecordBatch):
        return pa.Table.from_batches([out])
    module = type(out).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(out, preserve_index=False)
    if module == "polars":
        return out.to_arrow()
    if isinstance(out, Mapping):
        return pa.table(dict(out))
    raise InvalidArgument(f"{where}: the transform returned {type(out).__name__}; return a DataFrame or Arrow table")


def _conform(out: pa.Table | None, num_rows: int, schema: Sequence[Field], where: str) -> pa.Table:
    import pyarrow as pa

    if out is None:
        return pa.table({f.name: pa.array([], type=f.arrow_type()) for f in schema})
    missing = [f.name for f in schema if f.name not in out.column_names]
    if missing:
        raise InvalidArgument(f"{where}: the transform's output lacks {missing} (it has {out.column_names})")
    if out.num_rows != num_rows:
        raise InvalidArgument(f"{where}: the transform returned {out.num_rows} rows for {num_rows} input rows")
    columns = {}
    for f in schema:
        try:
            columns[f.name] = out.column(f.name).cast(f.arrow_type())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidArgument(f"{where}: output column {f.name!r} is not {f.dtype}: {exc}") from None
    return pa.table(columns)


# --------------------------------------------------------------------------- specs
def transform_spec(transform: TransformLike) -> dict[str, Any]:
    if transform.data_transform:
        return {"kind": "transform", "batch_format": transform.batch_format, "spec": transform.fn.spec()}
    import cloudpickle

    fn = transform.fn
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    # By value (as treadle.data's Transform does), so a server can run it without the module; so
    # are the modules a definitions folder imported from beside its files (flagged by _repo).
    by_value = [m for m in sys.modules.values() if getattr(m, REPO_MODULE_FLAG, False) is True]
    if (
        isinstance(fn, types.FunctionType)
        and module is not None
        and module.__name__ != "__main__"
        and not module.__name__.startswith("treadle.")
        and module not in by_value
    ):
        by_value.append(module)
    for m in by_value:
        cloudpickle.register_pickle_by_value(m)
    try:
        data = cloudpickle.dumps(fn)
    finally:
        for m in by_value:
            cloudpickle.unregister_pickle_by_value(m)
    source = transform.source or ""
    if not source:
        try:
            source = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError):
            source = ""
    return {
        "kind": "function",
        "name": getattr(fn, "__qualname__", getattr(fn, "__name__", "transform")),
        "source": source,
        "pickle": base64.b64encode(data).decode("ascii"),
        "batch_format": transform.batch_format,
    }


def transform_from_spec(spec: Mapping[str, Any]) -> TransformLike:
    kind = spec.get("kind")
    if kind == "transform":
        from treadle.data import Transform

        loaded = Transform.from_spec(spec["spec"])
        return TransformLike(loaded, str(loaded.batch_format), data_transform=True)
    if kind == "function":
        import cloudpickle

        try:
            fn = cloudpickle.loads(base64.b64decode(spec["pickle"]))
        except Exception as exc:
            raise InvalidArgument(
                f"transform {spec.get('name')!r} cannot be loaded here ({type(exc).__name__}: {exc}); "
                "it may need a module or a Python version this side lacks"
            ) from None
        fmt = spec.get("batch_format", "pandas")
        return TransformLike(fn, fmt if fmt in BATCH_FORMATS else "pandas", source=spec.get("source") or None)
    raise InvalidArgument(f"unknown transform kind {kind!r}: expected 'transform' or 'function'")


def comparable_transform(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A transform spec without its pickle when its source text identifies it (pickles vary by run)."""
    out = dict(spec)
    if out.get("kind") == "function" and out.get("source"):
        out.pop("pickle", None)
    if out.get("kind") == "transform" and isinstance(out.get("spec"), Mapping) and out["spec"].get("source"):
        out["spec"] = {k: v for k, v in out["spec"].items() if k not in ("function", "python")}
    return out
