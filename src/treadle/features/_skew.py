"""Skew check: do online values match what the offline source says is latest, for sampled entities?

The offline side is the latest row per entity of the view's source with an event time before now
(the same query materialization runs), a row older than the view's ttl counting as no value; the
online side is what lookups serve. Entities whose online row is newer than the offline one (pushed,
not yet in the offline source) are counted apart and not compared.
"""

from __future__ import annotations

import math
import random
from typing import Any

from treadle.features._catalog import Catalog
from treadle.features._materialize import latest_rows
from treadle.features._sources import DatasetReader, iter_view_batches
from treadle.features.online.base import OnlineStore, unpack
from treadle.records import Record

MAX_EXAMPLES = 5


class FeatureSkew(Record):
    feature: str
    compared: int
    mismatches: int
    mismatch_rate: float
    examples: list[dict[str, Any]]  # {"entity": {join key: value}, "online": ..., "offline": ...}


class SkewReport(Record):
    view: str
    version: int
    as_of: int  # epoch ms
    sampled: int  # entities compared (sampled from the offline source)
    online_missing: int  # offline has a current value, the online store has none (or an expired one)
    online_stale: int  # the online row is older than the offline one
    online_newer: int  # the online row is newer (pushed): not compared
    features: list[FeatureSkew]

    @property
    def mismatch_rate(self) -> float:
        """The highest per-feature mismatch rate (0.0 when online and offline agree)."""
        return max((f.mismatch_rate for f in self.features), default=0.0)


def same(a: Any, b: Any, rel: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool | str):
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, rel) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def skew_check(
    catalog: Catalog,
    name: str,
    datasets: DatasetReader | None,
    online: OnlineStore,
    now: int,
    sample: int = 100,
    seed: int | None = None,
) -> SkewReport:
    import pyarrow as pa

    view = catalog.view(name)
    keys = view.join_keys(catalog.entities)
    table, _ = latest_rows(view, keys, iter_view_batches(view, datasets), None, now + 1, keep_keys=True)
    ttl = int(view.ttl.total_seconds() * 1000) if view.ttl is not None else None
    n = table.num_rows
    picked = sorted(random.Random(seed).sample(range(n), min(sample, n)))
    if not picked:
        return SkewReport(
            view=name,
            version=catalog.versions[name],
            as_of=now,
            sampled=0,
            online_missing=0,
            online_stale=0,
            online_newer=0,
            features=[
                FeatureSkew(feature=f, compared=0, mismatches=0, mismatch_rate=0.0, examples=[])
                for f in view.feature_names
            ],
        )
    part = table.take(pa.array(picked, pa.int64()))
    entity_keys = part.column("__key").to_pylist()
    entity_rows = part.select(keys).to_pylist()
    offline_ts = part.column("__ts").to_pylist()
    offline_values = [unpack(v) for v in part.column("__values").to_pylist()]
    stored = online.read(name, entity_keys)
    rels = {f.name: 1e-6 if f.dtype in ("float32", "list<float32>") else 1e-9 for f in view.schema}
    compared = dict.fromkeys(view.feature_names, 0)
    mismatches = dict.fromkeys(view.feature_names, 0)
    examples: dict[str, list[dict[str, Any]]] = {f: [] for f in view.feature_names}
    differs: dict[str, list[dict[str, Any]]] = {f: [] for f in view.feature_names}
    missing = stale = newer = 0
    for entity, off_ts, off_vals, got in zip(entity_rows, offline_ts, offline_values, stored, strict=True):
        off_fresh = ttl is None or now - off_ts <= ttl
        on_vals: dict[str, Any] | None = None
        if got is not None and (ttl is None or now - got[1] <= ttl):
            on_vals = unpack(got[0])
            if got[1] > off_ts:
                newer += 1
                continue
            if got[1] < off_ts and off_fresh:
                stale += 1
        elif off_fresh:
            missing += 1
        expected = off_vals if off_fresh else {}
        for feature in compared:
            online_value = (on_vals or {}).get(feature)
            offline_value = expected.get(feature)
            compared[feature] += 1
            if not same(online_value, offline_value, rels[feature]):
                mismatches[feature] += 1
                example = {"entity": entity, "online": online_value, "offline": offline_value}
                if online_value is not None and offline_value is not None:
                    differs[feature].append(example)  # shown first: two values that disagree
                elif len(examples[feature]) < MAX_EXAMPLES:
                    examples[feature].append(example)
    features = [
        FeatureSkew(
            feature=f,
            compared=c,
            mismatches=mismatches[f],
            mismatch_rate=mismatches[f] / c if c else 0.0,
            examples=(differs[f] + examples[f])[:MAX_EXAMPLES],
        )
        for f, c in compared.items()
    ]
    return SkewReport(
        view=name,
        version=catalog.versions[name],
        as_of=now,
        sampled=len(picked),
        online_missing=missing,
        online_stale=stale,
        online_newer=newer,
        features=features,
    )
