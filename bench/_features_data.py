"""The data of bench/features.py, generated from numpy seed 0; importable from both venvs.

Only the standard library, numpy and pyarrow, so that treadle's ``.venv`` and Feast's
``.bench-feast`` both import it. ``python bench/_features_data.py DIR [--scale N | --quick]`` writes
into DIR:

- ``history.parquet``: a driver-stats-like feature history, ``entities`` drivers x ``timestamps``
  hourly observations (1,000,000 rows at scale 1), columns ``driver_id`` (int64, 1001...),
  ``event_timestamp`` (timestamp[us, tz=UTC], whole seconds, one observation in each hour of the
  history at a random second) and ten float64 features ``f0``..``f9`` (uniform [0, 1)); rows in time
  order, as a log appends them;
- ``entities.parquet``: the entity frame of the point-in-time join, ``entity_rows`` rows (100,000) of
  random ``driver_id`` and a random ``event_timestamp`` within the history's range (so a few fall
  before a driver's first observation and get no features), no two rows alike;
- ``lookups.npz``: the driver ids of the online lookups, ``one`` (n x 1) and ``hundred`` (n x 100);
- ``meta.json``: the sizes and the history's first and last second.

``--scale 10`` is the scale check: 100,000 drivers x 100 = 10,000,000 history rows and 1,000,000
entity rows. :func:`reference` computes, with numpy, what a correct point-in-time join and a correct
online store return, which both sides' answers are checked against.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 0
FEATURES = tuple(f"f{i}" for i in range(10))
VIEW = "driver_stats"
JOIN_KEY = "driver_id"
TS = "event_timestamp"
FIRST_ID = 1001
START = 1_767_225_600  # 2026-01-01T00:00:00Z, epoch seconds
ROW_GROUP = 1_000_000


@dataclass(frozen=True)
class Sizes:
    entities: int = 10_000
    timestamps: int = 100
    entity_rows: int = 100_000
    lookups_one: int = 2_000
    lookups_hundred: int = 1_000
    warmup: int = 200

    @property
    def history_rows(self) -> int:
        return self.entities * self.timestamps


FULL = Sizes()
QUICK = Sizes(entities=1_000, timestamps=100, entity_rows=10_000, lookups_one=300, lookups_hundred=100, warmup=30)


def scaled(scale: int) -> Sizes:
    """``scale`` times the drivers and the entity rows (history rows grow with the drivers)."""
    return Sizes(entities=FULL.entities * scale, entity_rows=FULL.entity_rows * scale)


def _ts_array(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype(np.int64) * 1_000_000, type=pa.timestamp("us", tz="UTC"))


def generate(out: Path, sizes: Sizes) -> dict[str, Any]:
    """Write history.parquet, entities.parquet, lookups.npz and meta.json into ``out``; the meta."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    n = sizes.history_rows
    ids = np.repeat(np.arange(FIRST_ID, FIRST_ID + sizes.entities, dtype=np.int64), sizes.timestamps)
    hour = np.tile(np.arange(sizes.timestamps, dtype=np.int64), sizes.entities)
    seconds = START + hour * 3600 + rng.integers(0, 3600, size=n, dtype=np.int64)
    values = rng.random((len(FEATURES), n))  # one row of values per feature: columns stay contiguous
    order = np.argsort(seconds, kind="stable")  # time order, as a log appends rows
    del hour
    schema = pa.schema(
        [(JOIN_KEY, pa.int64()), (TS, pa.timestamp("us", tz="UTC"))] + [(f, pa.float64()) for f in FEATURES]
    )
    with pq.ParquetWriter(out / "history.parquet", schema) as writer:
        for lo in range(0, n, ROW_GROUP):
            part = order[lo : lo + ROW_GROUP]
            cols = [pa.array(ids[part]), _ts_array(seconds[part])] + [pa.array(values[i][part]) for i in range(10)]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))
    first, last = int(seconds.min()), int(seconds.max())
    del ids, seconds, values, order

    e_ids = rng.integers(FIRST_ID, FIRST_ID + sizes.entities, size=sizes.entity_rows, dtype=np.int64)
    e_sec = rng.integers(first, last + 1, size=sizes.entity_rows, dtype=np.int64)
    # No two entity rows alike: Feast's file offline store collapses duplicate (driver, time) rows
    # into one, which would make the two answers differ for a reason that is not speed.
    while True:
        key = (e_ids - FIRST_ID) * (last - first + 1) + (e_sec - first)
        dup = np.ones(len(key), dtype=bool)
        dup[np.unique(key, return_index=True)[1]] = False
        if not dup.any():
            break
        e_sec[dup] = rng.integers(first, last + 1, size=int(dup.sum()), dtype=np.int64)
    entity_schema = pa.schema([(JOIN_KEY, pa.int64()), (TS, pa.timestamp("us", tz="UTC"))])
    pq.write_table(
        pa.Table.from_arrays([pa.array(e_ids), _ts_array(e_sec)], schema=entity_schema), out / "entities.parquet"
    )

    one = rng.integers(FIRST_ID, FIRST_ID + sizes.entities, size=(sizes.warmup + sizes.lookups_one, 1))
    hundred = rng.integers(FIRST_ID, FIRST_ID + sizes.entities, size=(sizes.warmup + sizes.lookups_hundred, 100))
    np.savez(out / "lookups.npz", one=one, hundred=hundred)

    meta = {"sizes": asdict(sizes), "history_rows": n, "first_s": first, "last_s": last, "seed": SEED}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def load_meta(data: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((data / "meta.json").read_text())
    return meta


def load_lookups(data: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(data / "lookups.npz") as z:
        return z["one"], z["hundred"]


# ------------------------------------------------------------------------------------- reference
def reference(data: Path) -> dict[str, Any]:
    """What correct answers sum to, computed with numpy (no TTL: every earlier row qualifies).

    - ``pit``: over the point-in-time join of entities.parquet, per feature the sum and the count of
      non-null values (a row of the entity frame gets the driver's latest observation at or before
      its timestamp, or nulls when there is none);
    - ``online_one`` / ``online_hundred``: per feature, the sum of the latest values over every timed
      lookup (the warm-up ones excluded) of lookups.npz, as the online store serves after a full
      materialization.
    """
    meta = load_meta(data)
    hist = pq.read_table(data / "history.parquet")
    ids = hist.column(JOIN_KEY).to_numpy()
    secs = hist.column(TS).cast(pa.int64()).to_numpy() // 1_000_000
    span = np.int64(meta["last_s"] - meta["first_s"] + 2)
    key = (ids - FIRST_ID) * span + (secs - meta["first_s"])
    order = np.argsort(key, kind="stable")
    key_sorted, ids_sorted = key[order], ids[order]

    ent = pq.read_table(data / "entities.parquet")
    e_ids = ent.column(JOIN_KEY).to_numpy()
    e_secs = ent.column(TS).cast(pa.int64()).to_numpy() // 1_000_000
    q = (e_ids - FIRST_ID) * span + (e_secs - meta["first_s"])
    pos = np.searchsorted(key_sorted, q, side="right") - 1
    hit = (pos >= 0) & (ids_sorted[np.maximum(pos, 0)] == e_ids)
    rows = order[pos[hit]]

    # latest row per driver: the last of its run in (driver, time) order
    last_of = np.flatnonzero(np.r_[ids_sorted[1:] != ids_sorted[:-1], True])
    latest_row = np.full(meta["sizes"]["entities"], -1, dtype=np.int64)
    latest_row[ids_sorted[last_of] - FIRST_ID] = order[last_of]
    one, hundred = load_lookups(data)
    warm = meta["sizes"]["warmup"]
    out: dict[str, Any] = {"pit": {}, "online_one": {}, "online_hundred": {}, "pit_rows": len(e_ids)}
    for f in FEATURES:
        col = hist.column(f).to_numpy()
        out["pit"][f] = {"sum": float(col[rows].sum()), "count": int(hit.sum())}
        out["online_one"][f] = float(col[latest_row[one[warm:].ravel() - FIRST_ID]].sum())
        out["online_hundred"][f] = float(col[latest_row[hundred[warm:].ravel() - FIRST_ID]].sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--scale", type=int, default=1, help="times the drivers and entity rows (10: 10M x 1M)")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    opts = ap.parse_args()
    sizes = QUICK if opts.quick else scaled(opts.scale)
    print(json.dumps(generate(opts.out, sizes)))


if __name__ == "__main__":
    main()
