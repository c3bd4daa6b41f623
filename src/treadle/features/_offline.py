"""Point-in-time correct training frames.

For each row of ``entity_df`` (join keys + an event timestamp) and each requested feature, the value
is the one from the latest feature row with the same keys and an event time at or before the row's
time — never a later one — and null when there is none or when it is older than the view's ``ttl``
(a value exactly ``ttl`` old is still valid). Rows sharing keys and event time are deduplicated:
the greatest ``created_timestamp_field`` wins, then the row read last from the source.

The join runs in DuckDB (``ASOF LEFT JOIN``), one feature view at a time, with a memory limit and a
spill directory, so it completes on data larger than memory. Timestamps must carry a time zone;
they are compared as UTC nanoseconds. On-demand views are computed afterwards from the joined
inputs and the entity frame's request columns, with the same transform the online path runs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from treadle.errors import InvalidArgument, NotFound
from treadle.features._definitions import Entity, FeatureView, OnDemandFeatureView, parse_feature_ref
from treadle.features._frames import from_frame, to_frame, utc_nanos
from treadle.features._pit import asof_join
from treadle.features._sources import DatasetReader

if TYPE_CHECKING:
    import pyarrow as pa

    from treadle.features._records import EntityRecord, FeatureViewRecord

ROW = "__treadle_row"


class ViewReader(Protocol):
    """What the join needs from a feature service, local or remote: two read operations."""

    def get_view(self, name: str, version: int | None = None) -> FeatureViewRecord: ...

    def get_entity(self, name: str) -> EntityRecord: ...


@dataclass(frozen=True)
class JoinOptions:
    """DuckDB resources for the join: ``memory_limit`` (DuckDB syntax), a spill directory (a fresh
    temporary one by default), threads (DuckDB's default when None) and the read batch size."""

    memory_limit: str = "4GB"
    temp_directory: str | None = None
    threads: int | None = None
    batch_size: int = 262_144


@dataclass
class _Request:
    """The feature views to join and which columns come out under which names."""

    views: dict[str, FeatureView]
    wanted: dict[str, dict[str, str]]  # view -> {feature: output column}
    needed: dict[str, list[str]]  # view -> features to join (wanted ones and on-demand inputs)
    on_demand: list[tuple[OnDemandFeatureView, dict[str, str]]]  # (view, {feature: output column})
    order: list[str]  # output columns in the order the features were asked for


def _resolve(service: ViewReader, features: Sequence[str], full_names: bool) -> _Request:
    if isinstance(features, str) or not features:
        raise InvalidArgument("features must be a non-empty list of 'view:feature' references")
    defs: dict[str, FeatureView | OnDemandFeatureView] = {}
    entities: dict[str, Entity] = {}

    def definition(name: str, ref: str) -> FeatureView | OnDemandFeatureView:
        if name not in defs:
            try:
                spec = service.get_view(name).spec
            except NotFound:
                raise InvalidArgument(f"unknown feature view {name!r} in {ref!r}; apply its definition first") from None
            for entity in spec.get("entities", []):
                if entity not in entities:
                    entities[entity] = Entity.from_spec(service.get_entity(entity).spec)
            defs[name] = (
                FeatureView.from_spec(spec, entities)
                if spec["kind"] == FeatureView.kind
                else OnDemandFeatureView.from_spec(spec)
            )
        return defs[name]

    req = _Request(views={}, wanted={}, needed={}, on_demand=[], order=[])
    odfv_out: dict[str, dict[str, str]] = {}
    for ref in features:
        view_name, feature = parse_feature_ref(ref)
        view = definition(view_name, ref)
        if feature not in view.feature_names:
            raise InvalidArgument(f"unknown feature {ref!r}: view {view_name!r} has {view.feature_names}")
        column = f"{view_name}__{feature}" if full_names else feature
        if column in req.order:
            raise InvalidArgument(
                f"feature column {column!r} is requested twice ({ref!r}); "
                + ("drop the duplicate" if full_names else "use full_names=True to get 'view__feature' columns")
            )
        req.order.append(column)
        if isinstance(view, FeatureView):
            req.views[view_name] = view
            req.wanted.setdefault(view_name, {})[feature] = column
            req.needed.setdefault(view_name, [])
            if feature not in req.needed[view_name]:
                req.needed[view_name].append(feature)
        else:
            odfv_out.setdefault(view_name, {})[feature] = column
    for name, outputs in odfv_out.items():
        odfv = defs[name]
        assert isinstance(odfv, OnDemandFeatureView)
        for source in odfv.source_views:
            src = definition(source, f"{name}:*")
            assert isinstance(src, FeatureView)
            req.views[source] = src
            req.wanted.setdefault(source, {})
            have = req.needed.setdefault(source, [])
            have.extend(f for f in src.feature_names if f not in have)
        req.on_demand.append((odfv, outputs))
    return req


def get_training_frame(
    service: ViewReader,
    entity_df: Any,
    features: Sequence[str],
    *,
    datasets: DatasetReader | None = None,
    full_names: bool = False,
    timestamp_column: str = "event_timestamp",
    options: JoinOptions | None = None,
) -> Any:
    """``entity_df`` (pandas, Arrow or polars) with one column per feature, point-in-time correct.

    ``features`` are ``"view:feature"`` references; columns are named ``feature`` (or
    ``view__feature`` with ``full_names``). Returns the same kind of frame as given, rows in the
    same order. ``service`` is a FeatureService or its remote proxy; sources are read here.
    """
    import pyarrow as pa

    req = _resolve(service, features, full_names)
    table, kind = from_frame(entity_df)
    for column in req.order:
        if column in table.column_names:
            raise InvalidArgument(
                f"the entity frame already has a column {column!r}; rename it"
                + ("" if full_names else " or use full_names=True")
            )
    ts = utc_nanos(table, timestamp_column, "the entity frame")
    opts = options or JoinOptions()
    temp = opts.temp_directory or tempfile.mkdtemp(prefix="treadle-pit-")
    try:
        joined = asof_join(table, ts, req.views, req.needed, datasets, opts, temp)
    finally:
        if opts.temp_directory is None:
            shutil.rmtree(temp, ignore_errors=True)
    out: dict[str, pa.ChunkedArray] = {}
    for view_name, mapping in req.wanted.items():
        for feature, column in mapping.items():
            out[column] = joined.column(f"{view_name}__{feature}")
    for odfv, outputs in req.on_demand:
        computed = _on_demand(odfv, table, joined, req.views)
        for feature, column in outputs.items():
            out[column] = computed.column(feature)
    result = pa.table({c: out[c] for c in req.order})
    return to_frame(entity_df, kind, result)


def _on_demand(
    odfv: OnDemandFeatureView, entity: pa.Table, joined: pa.Table, views: dict[str, FeatureView]
) -> pa.Table:
    import pyarrow as pa

    columns: dict[str, Any] = {}
    for name in odfv.source_views:
        for feature in views[name].feature_names:
            columns[feature] = joined.column(f"{name}__{feature}")
    for field in (f for r in odfv.request_sources for f in r.schema):
        if field.name not in entity.column_names:
            raise InvalidArgument(
                f"on-demand feature view {odfv.name!r} needs request field {field.name!r}: "
                "add it as a column of the entity frame"
            )
        columns[field.name] = entity.column(field.name)
    inputs = pa.table(columns)
    parts = [odfv.transform_batch(inputs.slice(i, 65_536)) for i in range(0, max(inputs.num_rows, 1), 65_536)]
    return pa.concat_tables(parts) if parts else odfv.transform_batch(inputs)
