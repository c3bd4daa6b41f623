"""Online lookups: a plan per feature list (resolved once, cached) and its execution.

The hot path does no schema work and no pydantic: it encodes the entity keys, reads each view
once from the online store, unpacks the rows and fills plain lists. On-demand views run their
transform over the fetched values plus the request data, as training frames do.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from treadle.errors import InvalidArgument
from treadle.features._catalog import Catalog
from treadle.features._definitions import Field, OnDemandFeatureView, parse_feature_ref
from treadle.features.online.base import OnlineStore, encode_key, unpack

FULL_NAME_SEPARATOR = "__"  # full_names=True: "view__feature", as training frames name them

PRESENT, MISSING, EXPIRED = "present", "missing", "expired"


@dataclass(frozen=True, slots=True)
class OnlineResult:
    """Online feature values, column by column: one entry per entity row, in request order.

    ``values`` holds the join keys and the features; ``status``, ``event_ts`` (epoch ms of the
    stored row) and ``age_ms`` (lookup time minus event time) hold each feature's freshness:
    ``"present"``, ``"missing"`` (never written, or absent from the row) or ``"expired"`` (older
    than the view's ttl; its value is then None, as a training frame would not join it).
    Features of one view share their freshness lists: treat them as read-only.
    """

    features: list[str]
    values: dict[str, list[Any]]
    status: dict[str, list[str]]
    event_ts: dict[str, list[int | None]]
    age_ms: dict[str, list[int | None]]

    def to_dict(self) -> dict[str, list[Any]]:
        """``{column: [value per entity row]}`` for the join keys and every feature."""
        return dict(self.values)

    def to_records(self) -> list[dict[str, Any]]:
        """One ``{column: value}`` dict per entity row."""
        names = list(self.values)
        return [dict(zip(names, row, strict=True)) for row in zip(*self.values.values(), strict=True)]

    def to_json(self) -> bytes:
        import orjson

        return orjson.dumps(self)

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.values)

    def __len__(self) -> int:
        return len(next(iter(self.values.values()), []))


@dataclass(slots=True)
class ViewRead:
    view: str
    join_keys: tuple[str, ...]
    outputs: list[tuple[str, str]]  # (feature, output column) the caller asked for
    ttl_ms: int | None
    needed: frozenset[str] = frozenset()  # features whose absence from a stored row marks it missing
    getter: Any = None  # operator.itemgetter over the output features (two or more)
    blank: tuple[None, ...] = ()  # what the getter gives for an entity without a row


@dataclass(slots=True)
class Derive:
    odfv: OnDemandFeatureView
    inputs: list[tuple[str, str, str]]  # (input column, source view, feature) in the transform's order
    request_fields: list[str]
    outputs: list[tuple[str, str]]  # (feature, output column)
    fields: list[Field]  # every input column's declared type, in order: the batch's schema


@dataclass(slots=True)
class Plan:
    reads: list[ViewRead]
    derives: list[Derive]
    join_keys: list[str]
    outputs: list[str]
    generation: int = 0
    _views: dict[str, ViewRead] = field(default_factory=dict)


def _output_name(view: str, feature: str, full_names: bool) -> str:
    return f"{view}{FULL_NAME_SEPARATOR}{feature}" if full_names else feature


def build_plan(catalog: Catalog, features: Sequence[str], full_names: bool) -> Plan:
    """Resolve ``"view:feature"`` references; unknown ones raise InvalidArgument naming them."""
    if not features:
        raise InvalidArgument("name at least one feature as 'view:feature'")
    plan = Plan(reads=[], derives=[], join_keys=[], outputs=[])
    derives: dict[str, Derive] = {}
    seen: dict[str, str] = {}
    for ref in features:
        view_name, feature = parse_feature_ref(ref)
        out = _output_name(view_name, feature, full_names)
        if out in seen:
            hint = "" if full_names else "; pass full_names=True to name them view__feature"
            raise InvalidArgument(f"features {seen[out]!r} and {ref!r} would both be returned as {out!r}{hint}")
        seen[out] = ref
        if view_name in catalog.views:
            view = catalog.views[view_name]
            if feature not in view.feature_names:
                raise InvalidArgument(f"unknown feature {ref!r}: feature view {view_name!r} has {view.feature_names}")
            read = _read(plan, catalog, view_name)
            read.outputs.append((feature, out))
            read.needed = read.needed | {feature}
            read.getter = operator.itemgetter(*[f for f, _ in read.outputs])
            read.blank = (None,) * len(read.outputs)
        elif view_name in catalog.on_demand:
            odfv = catalog.on_demand[view_name]
            if feature not in odfv.feature_names:
                raise InvalidArgument(
                    f"unknown feature {ref!r}: on-demand feature view {view_name!r} has {odfv.feature_names}"
                )
            derive = derives.get(view_name)
            if derive is None:
                derive = derives[view_name] = _derive(plan, catalog, odfv)
                plan.derives.append(derive)
            derive.outputs.append((feature, out))
        else:
            known = sorted([*catalog.views, *catalog.on_demand])
            raise InvalidArgument(f"unknown feature view {view_name!r} in {ref!r}; registered views: {known}")
        plan.outputs.append(out)
    clash = sorted(set(plan.join_keys) & set(plan.outputs))
    if clash:
        raise InvalidArgument(f"features {clash} have the name of a join key; pass full_names=True")
    return plan


def _read(plan: Plan, catalog: Catalog, name: str) -> ViewRead:
    read = plan._views.get(name)
    if read is None:
        view = catalog.views[name]
        keys = tuple(view.join_keys(catalog.entities))
        ttl = int(view.ttl.total_seconds() * 1000) if view.ttl is not None else None
        read = plan._views[name] = ViewRead(view=name, join_keys=keys, outputs=[], ttl_ms=ttl)
        plan.reads.append(read)
        plan.join_keys.extend(k for k in keys if k not in plan.join_keys)
    return read


def _derive(plan: Plan, catalog: Catalog, odfv: OnDemandFeatureView) -> Derive:
    inputs: list[tuple[str, str, str]] = []
    fields: list[Field] = []
    for name in odfv.source_views:
        if name not in catalog.views:
            raise InvalidArgument(f"on-demand feature view {odfv.name!r} reads {name!r}, which is not registered")
        _read(plan, catalog, name)
        inputs.extend((f.name, name, f.name) for f in catalog.views[name].schema)
        fields.extend(catalog.views[name].schema)
    fields.extend(f for r in odfv.request_sources for f in r.schema)
    return Derive(odfv=odfv, inputs=inputs, request_fields=list(odfv.request_fields), outputs=[], fields=fields)


# ------------------------------------------------------------------------------------ execution
def _column(rows: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    try:
        return [row[key] for row in rows]
    except KeyError:
        index = next(i for i, row in enumerate(rows) if key not in row)
        raise InvalidArgument(
            f"entity row {index} has no {key!r}: every row needs the join keys of the views asked for"
        ) from None
    except TypeError:
        raise InvalidArgument("entity_rows must be a list of {column: value} dicts") from None


def _keys(columns: dict[str, list[Any]], join_keys: tuple[str, ...], n: int) -> list[str]:
    if len(join_keys) == 1:
        out = []
        for v in columns[join_keys[0]]:
            out.append(v if type(v) is str else str(v) if type(v) is int else encode_key((v,)))
        return out
    parts = [columns[k] for k in join_keys]
    return [encode_key(tuple(p[i] for p in parts)) for i in range(n)]


_Fetched = tuple[list[dict[str, Any] | None], list[str], list[int | None], list[int | None]]


def _fetch(store: OnlineStore, read: ViewRead, keys: list[str], now_ms: int) -> tuple[_Fetched, bool]:
    """(unpacked rows or None, status, event time, age) per entity, and whether a row lacks a feature.

    Written as comprehensions and C-level maps: this is the inner loop of every lookup."""
    got = store.read(read.view, keys)
    if len(got) == 1:  # the single-entity lookup: no comprehensions
        item = got[0]
        if item is None:
            return ([None], [MISSING], [None], [None]), False
        age = now_ms - item[1]
        if read.ttl_ms is not None and age > read.ttl_ms:
            return ([None], [EXPIRED], [item[1]], [age]), False
        d = unpack(item[0])
        return ([d], [PRESENT], [item[1]], [age]), not read.needed <= d.keys()
    stamps: list[int | None] = [None if item is None else item[1] for item in got]
    ages: list[int | None] = [None if ts is None else now_ms - ts for ts in stamps]
    ttl = read.ttl_ms
    if ttl is None or not any(age is not None and age > ttl for age in ages):
        dicts: list[dict[str, Any] | None] = [None if item is None else unpack(item[0]) for item in got]
        states = [MISSING if item is None else PRESENT for item in got]
    else:
        live = [item is not None and (age is None or age <= ttl) for item, age in zip(got, ages, strict=True)]
        dicts = [unpack(item[0]) if ok and item is not None else None for item, ok in zip(got, live, strict=True)]
        states = [PRESENT if ok else MISSING if item is None else EXPIRED for item, ok in zip(got, live, strict=True)]
    present = [d for d in dicts if d is not None]
    partial = not all(map(operator.ge, map(dict.keys, present), repeat(read.needed)))
    return (dicts, states, stamps, ages), partial


def execute(store: OnlineStore, plan: Plan, rows: Sequence[Mapping[str, Any]], now_ms: int) -> OnlineResult:
    n = len(rows)
    values: dict[str, list[Any]] = {k: _column(rows, k) for k in plan.join_keys}
    status: dict[str, list[str]] = {}
    event_ts: dict[str, list[int | None]] = {}
    age_ms: dict[str, list[int | None]] = {}
    fetched: dict[str, _Fetched] = {}
    for read in plan.reads:
        got, partial = _fetch(store, read, _keys(values, read.join_keys, n), now_ms)
        fetched[read.view] = got
        dicts, states, stamps, ages = got
        outputs = read.outputs
        if n == 1 and not partial:
            d = dicts[0]
            for feature, out in outputs:
                values[out] = [None if d is None else d[feature]]
        elif partial or len(outputs) < 2:
            for feature, out in outputs:
                values[out] = [None if d is None else d.get(feature) for d in dicts]
        else:  # one C-level itemgetter per entity, then a transpose, instead of a get per value
            getter, blank = read.getter, read.blank
            for (_, out), column in zip(
                outputs, zip(*[blank if d is None else getter(d) for d in dicts], strict=True), strict=True
            ):
                values[out] = list(column)
        for _, out in outputs:
            status[out] = states
            event_ts[out] = stamps
            age_ms[out] = ages
        if partial:  # rows written before a feature existed: that feature is missing there
            for feature, out in outputs:
                status[out] = [
                    MISSING if d is not None and feature not in d else s for d, s in zip(dicts, states, strict=True)
                ]
    for derive in plan.derives:
        _run_derive(derive, rows, fetched, n, values, status, event_ts, age_ms)
    return OnlineResult(
        features=list(plan.outputs),
        values={k: values[k] for k in (*plan.join_keys, *plan.outputs)} if plan.derives else values,
        status=status,
        event_ts=event_ts,
        age_ms=age_ms,
    )


def _run_derive(
    derive: Derive,
    rows: Sequence[Mapping[str, Any]],
    fetched: dict[str, _Fetched],
    n: int,
    values: dict[str, list[Any]],
    status: dict[str, list[str]],
    event_ts: dict[str, list[int | None]],
    age_ms: dict[str, list[int | None]],
) -> None:
    request = {f: _column(rows, f) for f in derive.request_fields}
    sources = [fetched[v] for v in dict.fromkeys(v for _, v, _ in derive.inputs)]
    states, stamps, ages = [], [], []
    for i in range(n):
        row_states = [s[1][i] for s in sources]
        state = MISSING if MISSING in row_states else EXPIRED if EXPIRED in row_states else PRESENT
        row_ts = [s[2][i] for s in sources]
        newest = max(row_ts) if sources and state == PRESENT else None  # type: ignore[type-var]
        states.append(state)
        stamps.append(newest)
        ages.append(None if newest is None else min(a for a in (s[3][i] for s in sources) if a is not None))
    ready = [i for i in range(n) if states[i] == PRESENT]
    inputs = []
    for i in ready:
        row: dict[str, Any] = {}
        for column, view, feature in derive.inputs:
            d = fetched[view][0][i]
            row[column] = d.get(feature) if d is not None else None
        for f in derive.request_fields:
            row[f] = request[f][i]
        inputs.append(decode_row(row, derive.fields))
    computed: dict[str, list[Any]] = {f: [None] * n for f, _ in derive.outputs}
    if len(inputs) == 1:
        result = derive.odfv.transform_row(inputs[0])
        for f, _ in derive.outputs:
            computed[f][ready[0]] = result[f]
    elif inputs:
        import pyarrow as pa

        schema = pa.schema([pa.field(f.name, f.arrow_type()) for f in derive.fields])
        try:
            batch = pa.Table.from_pylist(inputs, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            where = f"on-demand feature view {derive.odfv.name!r}"
            raise InvalidArgument(f"{where}: an input does not match its declared type: {exc}") from None
        table = derive.odfv.transform_batch(batch).to_pydict()
        for f, _ in derive.outputs:
            target = computed[f]
            for i, value in zip(ready, table[f], strict=True):
                target[i] = value
    for f, out in derive.outputs:
        values[out] = computed[f]
        status[out] = states
        event_ts[out] = stamps
        age_ms[out] = ages


def decode_row(row: dict[str, Any], fields: Sequence[Field]) -> dict[str, Any]:
    """Stored (JSON) values back to Python objects where the type needs it: timestamps, bytes."""
    for f in fields:
        value = row.get(f.name)
        if isinstance(value, str) and f.dtype in ("timestamp", "bytes"):
            row[f.name] = decode_value(value, f.dtype)
    return row


def decode_value(value: str, dtype: str) -> Any:
    if dtype == "timestamp":
        from datetime import datetime

        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise InvalidArgument(f"{value!r} is not an ISO 8601 timestamp") from None
    import base64

    return base64.b64decode(value)
