"""Batch formats a transform can take: Arrow tables and record batches, pandas and Polars frames."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from treadle.errors import InvalidArgument

BATCH_FORMATS = ("arrow", "record_batch", "pandas", "polars")
_ALIASES = {
    "pyarrow": "arrow",
    "pa": "arrow",
    "table": "arrow",
    "recordbatch": "record_batch",
    "pd": "pandas",
    "pl": "polars",
}


def normalize_format(fmt: str) -> str:
    name = _ALIASES.get(fmt.lower(), fmt.lower()) if isinstance(fmt, str) else fmt
    if name not in BATCH_FORMATS:
        raise InvalidArgument(f"unknown batch_format {fmt!r}: use one of {', '.join(BATCH_FORMATS)}")
    return name


def _from_type(tp: Any) -> str | None:
    if tp is pa.Table:
        return "arrow"
    if tp is pa.RecordBatch:
        return "record_batch"
    module = getattr(tp, "__module__", "") or ""
    name = getattr(tp, "__name__", "")
    if name == "DataFrame" and module.startswith("pandas"):
        return "pandas"
    if name == "DataFrame" and module.startswith("polars"):
        return "polars"
    return None


def _from_text(text: str) -> str | None:
    text = text.replace(" ", "").strip("'\"")
    if text.endswith("RecordBatch"):
        return "record_batch"
    if text.startswith(("pl.", "polars.")):
        return "polars"
    if text.startswith(("pd.", "pandas.")):
        return "pandas"
    if text in ("pa.Table", "pyarrow.Table", "Table"):
        return "arrow"
    return None


def format_from_annotation(fn: Callable[..., Any]) -> str | None:
    """The batch format the first parameter's annotation names, or None when it has none."""
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        raise InvalidArgument(f"a transform takes the batch as its first argument; {fn.__qualname__} takes none")
    first = params[0]
    if first.annotation is inspect.Parameter.empty:
        return None
    try:
        hint = typing.get_type_hints(fn).get(first.name, first.annotation)
    except Exception:  # names only imported under TYPE_CHECKING: read the annotation's text
        hint = first.annotation
    found = _from_text(hint) if isinstance(hint, str) else _from_type(hint)
    if found is None:
        raise InvalidArgument(
            f"cannot tell the batch format of {fn.__qualname__} from its annotation {hint!r}: annotate the "
            "first parameter as pa.Table, pa.RecordBatch, pd.DataFrame or pl.DataFrame, or pass batch_format="
        )
    return found


def format_of_value(value: Any) -> str | None:
    if isinstance(value, pa.Table):
        return "arrow"
    if isinstance(value, pa.RecordBatch):
        return "record_batch"
    return _from_type(type(value))


def to_format(table: pa.Table, fmt: str) -> Any:
    if fmt == "arrow":
        return table
    if fmt == "record_batch":
        return (
            table.combine_chunks().to_batches()[0]
            if table.num_rows
            else pa.RecordBatch.from_pylist([], schema=table.schema)
        )
    if fmt == "pandas":
        return table.to_pandas()
    import polars as pl

    return pl.from_arrow(table)


def to_arrow(value: Any, where: str) -> pa.Table:
    fmt = format_of_value(value)
    if fmt == "arrow":
        return value
    if fmt == "record_batch":
        return pa.Table.from_batches([value])
    if fmt == "pandas":
        try:
            return pa.Table.from_pandas(value, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgument(f"{where} returned a DataFrame Arrow cannot hold: {exc}") from exc
    if fmt == "polars":
        return value.to_arrow()
    raise InvalidArgument(
        f"{where} must return a batch (pa.Table, pa.RecordBatch, pandas or Polars DataFrame), "
        f"got {type(value).__name__}"
    )
