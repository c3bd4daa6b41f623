"""The DuckDB side of a training frame: dedup each view's rows, ASOF-join them to the entity rows.

Per feature view: its source is streamed into DuckDB (keys cast to the entity frame's key types,
timestamps as UTC nanoseconds, a running ordinal for "written last") and ``ASOF LEFT JOIN``-ed to
the entity rows on equal keys and ``entity_ts >= feature_ts``; values older than the TTL become
null. Rows sharing keys and event time resolve by the ASOF key (event time, ordinal), so the row
read last wins with no separate dedup pass; a view with a created-time column is deduplicated
first (greatest created time, then the row read last). Only the features asked for travel; the per-view results
are joined back on the entity row number at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument
from treadle.features._definitions import FeatureView, dtype_family
from treadle.features._frames import timestamp_nanos
from treadle.features._sources import DatasetReader, iter_view_batches

if TYPE_CHECKING:
    import pyarrow as pa

    from treadle.features._offline import JoinOptions

ROW, TS, CREATED, ORD, SEQ = "__treadle_row", "__treadle_ts", "__treadle_created", "__treadle_ord", "__treadle_seq"
ORD_SPAN = 2**40  # ordinals (rows read from one source) stay below this


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _normal_key_type(kind: pa.DataType) -> pa.DataType:
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(kind):
        kind = kind.value_type
    if pt.is_large_string(kind) or pt.is_string_view(kind):
        return pa.string()
    if pt.is_large_binary(kind) or pt.is_binary_view(kind):
        return pa.binary()
    return kind


def asof_join(
    entity: pa.Table,
    ts: Any,
    views: dict[str, FeatureView],
    needed: dict[str, list[str]],
    datasets: DatasetReader | None,
    opts: JoinOptions,
    temp: str,
) -> pa.Table:
    """Columns ``<view>__<feature>`` for every needed feature, one row per entity row, in order."""
    import duckdb
    import numpy as np
    import pyarrow as pa

    keys_all: list[str] = []
    for name in needed:
        for key in views[name].join_keys():
            if key not in entity.column_names:
                raise InvalidArgument(
                    f"the entity frame has no join key column {key!r}, which feature view {name!r} needs "
                    f"(it has {entity.column_names})"
                )
            if key not in keys_all:
                keys_all.append(key)
    left = {ROW: pa.array(np.arange(entity.num_rows, dtype=np.int64)), TS: ts}
    for key in keys_all:
        left[key] = entity.column(key).cast(_normal_key_type(entity.column(key).type))
    left_table = pa.table(left)
    if not needed:
        return left_table.select([ROW])
    config: dict[str, Any] = {
        "memory_limit": opts.memory_limit,
        "temp_directory": temp,
        "preserve_insertion_order": False,
    }
    if opts.threads:
        config["threads"] = opts.threads
    con = duckdb.connect(":memory:", config=config)
    try:
        con.register("entity_rows", left_table)
        parts = []
        for i, (name, features) in enumerate(needed.items()):
            view = views[name]
            key_types = {k: left_table.schema.field(k).type for k in view.join_keys()}
            failures: list[BaseException] = []
            reader = _feature_reader(view, key_types, features, datasets, opts.batch_size, failures)
            try:
                _join_view(con, i, view, list(key_types), features, reader)
            except duckdb.Error:
                if failures:  # reading the source failed inside DuckDB's scan: raise the original error
                    raise failures[0] from None
                raise
            parts.append(f"r_{i}")
        select = ", ".join([f"r_0.{q(ROW)}"] + [f"{p}.* EXCLUDE ({q(ROW)})" for p in parts])
        joins = " ".join(f"JOIN {p} USING ({q(ROW)})" for p in parts[1:])
        result = con.sql(f"SELECT {select} FROM r_0 {joins} ORDER BY r_0.{q(ROW)}").to_arrow_table()
    finally:
        con.close()
    columns = {}
    for name, features in needed.items():
        for f in views[name].schema:
            if f.name in features:
                column = f"{name}__{f.name}"
                columns[column] = result.column(column).cast(f.arrow_type())
    return pa.table(columns) if columns else result.select([ROW])


def _join_view(
    con: Any, i: int, view: FeatureView, keys: list[str], features: list[str], reader: pa.RecordBatchReader
) -> None:
    src, out = f"src_{i}", f"r_{i}"
    con.register(src, reader)
    key_list = ", ".join(q(k) for k in keys)
    not_null = " AND ".join(f"{q(c)} IS NOT NULL" for c in [TS, *keys])
    feature_list = ", ".join(q(f) for f in features)
    if view.created_timestamp_field:
        # Ties on (keys, event time) go to the greatest created time, then to the row read last.
        right = f"f_{i}"
        con.execute(
            f"CREATE TABLE {right} AS SELECT {key_list}, {q(TS)}, {feature_list}, {q(TS)} AS {q(SEQ)} FROM {src} "
            f"WHERE {not_null} QUALIFY row_number() OVER (PARTITION BY {key_list}, {q(TS)} "
            f"ORDER BY {q(CREATED)} DESC NULLS LAST, {q(ORD)} DESC) = 1"
        )
        left = f"(SELECT *, {q(TS)} AS {q(SEQ)} FROM entity_rows)"
    else:
        # No dedup pass: the ASOF key (event time, ordinal) makes the row read last win a tie, and an
        # entity row at time t sees every row at t (its key carries the largest ordinal).
        right = (
            f"(SELECT {key_list}, {q(TS)}, {feature_list}, {q(TS)}::HUGEINT * {ORD_SPAN} + {q(ORD)} AS {q(SEQ)} "
            f"FROM {src} WHERE {not_null})"
        )
        left = f"(SELECT *, {q(TS)}::HUGEINT * {ORD_SPAN} + {ORD_SPAN - 1} AS {q(SEQ)} FROM entity_rows)"
    if view.ttl is not None:
        ttl_ns = (view.ttl // _microsecond()) * 1000
        values = [f"CASE WHEN f.{q(TS)} >= e.{q(TS)} - {ttl_ns} THEN f.{q(f)} END" for f in features]
    else:
        values = [f"f.{q(f)}" for f in features]
    cols = ", ".join(f"{v} AS {q(view.name + '__' + f)}" for v, f in zip(values, features, strict=True))
    on = " AND ".join([f"e.{q(k)} = f.{q(k)}" for k in keys] + [f"e.{q(SEQ)} >= f.{q(SEQ)}"])
    con.execute(f"CREATE TABLE {out} AS SELECT e.{q(ROW)}, {cols} FROM {left} e ASOF LEFT JOIN {right} f ON {on}")
    con.unregister(src)
    if view.created_timestamp_field:
        con.execute(f"DROP TABLE {right}")


def _microsecond() -> Any:
    from datetime import timedelta

    return timedelta(microseconds=1)


def _feature_reader(
    view: FeatureView,
    key_types: dict[str, pa.DataType],
    features: list[str],
    datasets: DatasetReader | None,
    batch_size: int,
    failures: list[BaseException],
) -> pa.RecordBatchReader:
    """The view's source rows projected to keys, event time (ns), created time, ordinal and features."""
    import numpy as np
    import pyarrow as pa

    declared = {f.name: f for f in view.schema}
    fields = [pa.field(k, t) for k, t in key_types.items()] + [pa.field(TS, pa.int64())]
    if view.created_timestamp_field:
        fields.append(pa.field(CREATED, pa.int64()))
    fields.append(pa.field(ORD, pa.int64()))
    fields += [pa.field(f, declared[f].arrow_type()) for f in features]
    schema = pa.schema(fields)
    where = f"feature view {view.name!r}"

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from projected()
        except Exception as exc:
            failures.append(exc)
            raise

    def projected() -> Iterator[pa.RecordBatch]:
        offset = 0
        checked = False
        for batch in iter_view_batches(view, datasets, batch_size):
            if not checked:
                view.check_schema(batch.schema)
                checked = True
            arrays = []
            for key, kind in key_types.items():
                column = batch.column(key)
                families = {dtype_family(column.type), dtype_family(kind)}
                if len(families) > 1 and families != {"int", "float"} and not pa.types.is_null(kind):
                    raise InvalidArgument(
                        f"{where}: join key {key!r} is {column.type} in the source but {kind} in the entity frame; "
                        "give both the same type"
                    )
                arrays.append(_cast(column, kind, f"{where}: join key {key!r}", "the entity frame's"))
            arrays.append(timestamp_nanos(batch.column(view.timestamp_field), view.timestamp_field, where))
            if view.created_timestamp_field:
                created = view.created_timestamp_field
                arrays.append(timestamp_nanos(batch.column(created), created, where))
            arrays.append(pa.array(np.arange(offset, offset + batch.num_rows, dtype=np.int64)))
            offset += batch.num_rows
            for f in features:
                arrays.append(_cast(batch.column(f), declared[f].arrow_type(), f"{where}: feature {f!r}", "declared"))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _cast(values: Any, kind: pa.DataType, what: str, whose: str) -> Any:
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_null(kind):  # the entity frame's key column is all nulls: nothing can match
        return pa.nulls(len(values))
    if values.type == kind:
        return values
    try:
        return values.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InvalidArgument(
            f"{what} is {values.type} in the source and cannot become {whose} type {kind} ({exc})"
        ) from None
