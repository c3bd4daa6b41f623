"""Materialization: the latest row per entity of a view's offline source, written to the online store.

One DuckDB query over the source's Arrow batches picks the latest row per entity in the event-time
window ``[start, end)`` (ties broken like training frames: greatest ``created_timestamp_field``,
then the row read last) and packs each row's features as JSON in C++, so Python only hands
batches of (key, packed values, event time) to the store.

Incremental runs start at the view's watermark (the ``end`` of its last completed run at the same
view version; a new version re-materializes everything). The watermark moves only after every
batch is written, in the same transaction that marks the run completed: an interrupted run
leaves it where it was, and a rerun writes the window again. Rows already written by the
interrupted run are the latest values of their entities, and writes are idempotent and
last-writer-wins by event time, so no entity ever goes back to an older value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import insert, update

from treadle.errors import InvalidArgument
from treadle.events import emit
from treadle.features import _tables as t
from treadle.features._catalog import Catalog
from treadle.features._definitions import FeatureView
from treadle.features._sources import DatasetReader, iter_view_batches
from treadle.features.online.base import KEY_SEPARATOR, OnlineStore, encode_key
from treadle.records import Record
from treadle.store import Store, dialect_insert, now_ms

if TYPE_CHECKING:
    import pyarrow as pa

ROW_COLUMN = "__treadle_row"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"  # what datetime.isoformat(timespec="microseconds") gives in UTC


class ViewMaterialization(Record):
    view: str
    version: int
    incremental: bool  # False when the whole history was (re)written
    start: int | None  # event-time window [start, end), epoch ms; None = from the beginning
    end: int
    source_rows: int  # source rows in the window
    entities: int  # latest rows written (one per entity)
    applied: int  # rows the store took (older than the stored row: ignored)
    seconds: float
    status: Literal["completed", "up_to_date"]


class MaterializeReport(Record):
    views: list[ViewMaterialization]
    seconds: float

    def view(self, name: str) -> ViewMaterialization:
        return next(v for v in self.views if v.view == name)


Progress = Callable[[str, int, int], None]  # (view, rows written so far, total rows)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value_sql(name: str, arrow_type: pa.DataType) -> str:
    """A feature column as the JSON value ``pack`` would give (NaN -> null, timestamps ISO, bytes base64)."""
    import pyarrow.types as pt

    col = _quote(name)
    if pt.is_floating(arrow_type):
        return f"CASE WHEN isfinite({col}) THEN {col} END"
    if pt.is_timestamp(arrow_type):
        return f"strftime({col}::TIMESTAMPTZ, '{TIMESTAMP_FORMAT}')"
    if pt.is_date(arrow_type):
        return f"strftime({col}, '%Y-%m-%d')"
    if pt.is_binary(arrow_type) or pt.is_large_binary(arrow_type):
        return f"base64({col})"
    if (pt.is_list(arrow_type) or pt.is_large_list(arrow_type)) and pt.is_floating(arrow_type.value_type):
        return f"[CASE WHEN isfinite(x) THEN x END FOR x IN {col}]"
    return col


def _key_sql(keys: list[str], schema: pa.Schema) -> str | None:
    """The encoded entity key in SQL when every key column is an integer or a string (else None)."""
    import pyarrow.types as pt

    parts = []
    for key in keys:
        kind = schema.field(key).type
        if pt.is_integer(kind):
            parts.append(f"CAST({_quote(key)} AS VARCHAR)")
        elif pt.is_string(kind) or pt.is_large_string(kind):
            parts.append(_quote(key))
        else:
            return None
    if len(parts) == 1:
        return parts[0]
    return f"concat_ws(chr({ord(KEY_SEPARATOR)}), {', '.join(parts)})"


def _collect(view: FeatureView, keys: list[str], batches: Iterator[pa.RecordBatch]) -> pa.Table:
    """The columns the view needs, from every batch, numbered in source order (``__treadle_row``)."""
    import numpy as np
    import pyarrow as pa

    wanted = [*keys, view.timestamp_field, *([view.created_timestamp_field] if view.created_timestamp_field else [])]
    wanted += view.feature_names
    parts: list[pa.RecordBatch] = []
    schema: pa.Schema | None = None
    for batch in batches:
        if schema is None:
            schema = batch.schema
            missing = [c for c in wanted if c not in schema.names]
            if missing:
                raise InvalidArgument(
                    f"feature view {view.name!r}: its source has no columns {missing}; it has {schema.names}"
                )
        parts.append(batch.select(wanted))
    if schema is None:
        return pa.table({c: pa.array([], pa.null()) for c in [*wanted, ROW_COLUMN]})
    table = pa.Table.from_batches(parts, schema=parts[0].schema)
    return table.append_column(ROW_COLUMN, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def latest_rows(
    view: FeatureView,
    keys: list[str],
    batches: Iterator[pa.RecordBatch],
    start: int | None,
    end: int,
    keep_keys: bool = False,
) -> tuple[pa.Table, int]:
    """(table of ``__key``, ``__ts`` (epoch ms), ``__values`` (packed JSON bytes), rows in the window).

    Two DuckDB queries: ``arg_max`` of the row number per entity over (event time[, created
    time], row number) picks each entity's latest row, then the picked rows are packed.
    ``keep_keys`` also keeps the join key columns as they are in the source."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _collect(view, keys, batches)
    if table.num_rows == 0:
        empty = {"__key": pa.array([], pa.string()), "__ts": pa.array([], pa.int64())}
        return pa.table({**empty, "__values": pa.array([], pa.binary())}), 0
    schema = table.schema
    ts = _quote(view.timestamp_field)
    key_cols = ", ".join(_quote(k) for k in keys)
    where = [f"{_quote(k)} IS NOT NULL" for k in keys] + [f"{ts} IS NOT NULL", f"epoch_ms({ts}) < {int(end)}"]
    if start is not None:
        where.append(f"epoch_ms({ts}) >= {int(start)}")
    if view.created_timestamp_field:
        created = f"coalesce(epoch_us({_quote(view.created_timestamp_field)}), -9223372036854775807)"
        order = f"(epoch_us({ts}), {created}, {ROW_COLUMN})"
    else:  # one integer compares faster than a struct: event time in µs, then the row number
        order = f"epoch_us({ts})::HUGEINT * 4294967296 + {ROW_COLUMN}"
    pick = (
        f"SELECT arg_max({ROW_COLUMN}, {order}) AS r, count(*) AS n FROM src "
        f"WHERE {' AND '.join(where)} GROUP BY {key_cols}"
    )
    key_sql = _key_sql(keys, schema)
    if key_sql is None:
        selected = key_cols
    else:
        selected = f"{key_sql} AS __key, {key_cols}" if keep_keys else f"{key_sql} AS __key"
    packed = ", ".join(f"{_quote(f.name)} := {_value_sql(f.name, schema.field(f.name).type)}" for f in view.schema)
    pack_sql = (
        f"SELECT {selected}, epoch_ms({ts}) AS __ts, CAST(to_json(struct_pack({packed})) AS BLOB) AS __values "
        "FROM picked" + (" ORDER BY __key" if key_sql else "")  # key order: the store's B-tree order
    )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("src", table)
        picked = con.sql(pick).to_arrow_table()
        in_window = int(pc.sum(picked.column("n")).as_py() or 0)
        con.register("picked", table.take(picked.column("r")))
        out = con.sql(pack_sql).to_arrow_table()
    except duckdb.Error as exc:
        raise InvalidArgument(f"feature view {view.name!r}: could not read its source: {exc}") from None
    finally:
        con.close()
    if key_sql is None:  # keys DuckDB cannot encode like encode_key (floats, booleans, dates...)
        columns = [out.column(k).to_pylist() for k in keys]
        encoded = [encode_key(tuple(parts)) for parts in zip(*columns, strict=True)]
        out = out.append_column("__key", pa.array(encoded, pa.string()))
        if not keep_keys:
            out = out.drop_columns(keys)
    return out, in_window


class Materializer:
    """Runs materializations for one feature service (its store, datasets and online store)."""

    batch_rows = 50_000

    def __init__(self, store: Store, datasets: DatasetReader | None, online: OnlineStore) -> None:
        self._store = store
        self._datasets = datasets
        self._online = online

    def run(
        self,
        catalog: Catalog,
        name: str,
        start: int | None,
        end: int,
        incremental: bool,
        progress: Progress | None = None,
    ) -> ViewMaterialization:
        began = time.perf_counter()
        view = catalog.view(name)
        view_id, version = catalog.ids[name], catalog.versions[name]
        if incremental:
            mark = self._watermark(view_id)
            if mark is not None and mark[0] == version and mark[1] is not None:
                start = mark[1] if start is None else max(start, mark[1])
            else:
                incremental = False
        if start is not None and start >= end:
            return ViewMaterialization(
                view=name,
                version=version,
                incremental=incremental,
                start=start,
                end=end,
                source_rows=0,
                entities=0,
                applied=0,
                seconds=time.perf_counter() - began,
                status="up_to_date",
            )
        run_id = self._begin(view_id, version, start, end)
        try:
            keys = view.join_keys(catalog.entities)
            table, source_rows = latest_rows(view, keys, iter_view_batches(view, self._datasets), start, end)
            applied = self._write(name, table, progress, run_id)
        except BaseException as exc:
            self._fail(run_id, exc)
            raise
        self._complete(run_id, view_id, name, version, end, table.num_rows)
        return ViewMaterialization(
            view=name,
            version=version,
            incremental=incremental,
            start=start,
            end=end,
            source_rows=source_rows,
            entities=table.num_rows,
            applied=applied,
            seconds=time.perf_counter() - began,
            status="completed",
        )

    def _write(self, view: str, table: pa.Table, progress: Progress | None, run_id: int) -> int:
        total, done, applied = table.num_rows, 0, 0
        if progress:
            progress(view, 0, total)
        for batch in table.to_batches(max_chunksize=self.batch_rows):
            keys = batch.column("__key").to_pylist()
            values = batch.column("__values").to_pylist()
            stamps = batch.column("__ts").to_pylist()
            applied += self._online.write(view, keys, values, stamps)
            done += batch.num_rows
            if progress:
                progress(view, done, total)
            if done < total:
                with self._store.write() as conn:
                    conn.execute(update(t.materializations).where(t.materializations.c.id == run_id).values(rows=done))
        return applied

    def _watermark(self, view_id: int) -> tuple[int, int | None] | None:
        w = t.watermarks
        with self._store.read() as conn:
            row = conn.execute(w.select().where(w.c.view_id == view_id)).first()
        return None if row is None else (int(row.version), row.materialized_until)

    def _begin(self, view_id: int, version: int, start: int | None, end: int) -> int:
        with self._store.write() as conn:
            result = conn.execute(
                insert(t.materializations).values(
                    view_id=view_id,
                    version=version,
                    start_ts=start,
                    end_ts=end,
                    rows=0,
                    status="running",
                    started_at=now_ms(),
                )
            )
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0])

    def _fail(self, run_id: int, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"[:2000]
        m = t.materializations
        with self._store.write() as conn:
            conn.execute(update(m).where(m.c.id == run_id).values(status="failed", error=message, finished_at=now_ms()))

    def _complete(self, run_id: int, view_id: int, name: str, version: int, end: int, rows: int) -> None:
        m, w = t.materializations, t.watermarks
        now = now_ms()
        with self._store.write() as conn:
            conn.execute(update(m).where(m.c.id == run_id).values(status="completed", rows=rows, finished_at=now))
            values = dict(version=version, materialized_until=end, rows=rows, updated_at=now)
            stmt = dialect_insert(conn, w).values(view_id=view_id, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["view_id"], set_=values))
            emit(
                conn,
                "materialization_completed",
                f"feature_view:{name}",
                name=name,
                version=version,
                end=end,
                rows=rows,
            )


def rich_progress() -> tuple[Progress, Callable[[], None]]:
    """A rich progress bar (stderr) as a materialization callback, and the function that closes it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("materialize [bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    tasks: dict[str, Any] = {}
    bar.start()

    def update_bar(view: str, done: int, total: int) -> None:
        if view not in tasks:
            tasks[view] = bar.add_task(view, total=total)
        bar.update(tasks[view], completed=done, total=total)

    return update_bar, bar.stop
