"""Entity frames in and out (pandas, Arrow, polars) and time-zone-aware timestamps as UTC nanoseconds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    import pyarrow as pa


def from_frame(frame: Any) -> tuple[pa.Table, str]:
    """An Arrow table of ``frame`` and its kind: "pandas", "arrow", "batch" or "polars"."""
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame, "arrow"
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame]), "batch"
    module = type(frame).__module__.split(".")[0]
    if module == "pandas" and hasattr(frame, "columns"):
        if len(set(frame.columns)) != len(frame.columns):
            raise InvalidArgument("the entity frame has repeated column names; make them unique")
        return pa.Table.from_pandas(frame, preserve_index=False), "pandas"
    if module == "polars" and hasattr(frame, "to_arrow"):
        return frame.to_arrow(), "polars"
    raise InvalidArgument(
        "the entity frame must be a pandas DataFrame, a pyarrow Table or a polars DataFrame, "
        f"not {type(frame).__name__}"
    )


def to_frame(original: Any, kind: str, features: pa.Table) -> Any:
    """``original`` with the ``features`` columns appended, as the same kind of frame."""
    import pyarrow as pa

    if kind == "pandas":
        import pandas as pd

        extra = features.to_pandas()
        extra.index = original.index
        return pd.concat([original, extra], axis=1)
    if kind == "polars":
        import polars as pl

        return original.hstack(pl.from_arrow(features).get_columns())  # type: ignore[union-attr]
    table = original if kind == "arrow" else pa.Table.from_batches([original])
    for name in features.column_names:
        table = table.append_column(name, features.column(name))
    if kind == "arrow":
        return table
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)


def utc_nanos(table: pa.Table, column: str, where: str) -> pa.ChunkedArray:
    """``table[column]`` (a time-zone-aware timestamp) as int64 nanoseconds since the epoch, UTC."""
    if column not in table.column_names:
        raise InvalidArgument(
            f"{where} has no timestamp column {column!r} (it has {table.column_names}); "
            "add one or name it with timestamp_column="
        )
    values = table.column(column)
    return timestamp_nanos(values, column, where)


def timestamp_nanos(values: pa.ChunkedArray | pa.Array, column: str, where: str) -> Any:
    import pyarrow as pa
    import pyarrow.types as pt

    kind = values.type
    if not pt.is_timestamp(kind):
        raise InvalidArgument(f"{where}: column {column!r} must hold time-zone-aware timestamps, not {kind}")
    if kind.tz is None:
        raise InvalidArgument(
            f"{where}: timestamp column {column!r} has no time zone; make it time-zone aware "
            "(pandas: .dt.tz_localize('UTC'); polars: .dt.replace_time_zone('UTC'))"
        )
    try:
        return values.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
    except pa.ArrowInvalid as exc:
        raise InvalidArgument(f"{where}: column {column!r} holds a timestamp outside 1677-2262 ({exc})") from None
