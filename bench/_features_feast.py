"""Feast side of bench/features.py; runs inside .bench-feast (Feast 0.67) and never imports treadle.

Usage: python _features_feast.py DATA_DIR WORKDIR. A long-lived worker: it reads one JSON request a
line from stdin and answers through bench/_worker.py, so bench/features.py can alternate the two
systems' repeats.

A Feast repository in a temporary folder under WORKDIR: local provider, file offline store (Feast's
default, its Dask implementation) over DATA_DIR/history.parquet, SQLite online store, one entity
``driver`` (join key ``driver_id``) and one feature view ``driver_stats`` of the ten float features
with ``ttl=0`` (Feast: never expires; every earlier row qualifies, as in the reference). Operations:

- ``setup``: write the repository and ``apply`` the definitions;
- ``materialize``: the whole history into the empty SQLite online store, timed;
- ``online(which, start, stop)``: one in-process ``get_online_features(...).to_dict()`` call per
  lookup ``start:stop`` of lookups.npz (``which``: "one" or "hundred" entities), each timed;
- ``pit``: ``get_historical_features(entity_df, features).to_df()`` of entities.parquet (read into
  pandas once, untimed), timed;
- ``stats``: the peak RSS of this process.

Each answer carries what the driver checks against numpy's reference: the sums of the values
returned, and per feature the sum and non-null count of the PIT join.
"""

from __future__ import annotations

import contextlib
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _features_data import FEATURES, JOIN_KEY, TS, VIEW, load_lookups, load_meta
from _worker import serve

REFS = [f"{VIEW}:{f}" for f in FEATURES]


class Worker:
    def __init__(self, data: Path, workdir: Path) -> None:
        self.data = data
        self.meta = load_meta(data)
        self.lookups = dict(zip(("one", "hundred"), load_lookups(data), strict=True))
        self.repo = Path(tempfile.mkdtemp(prefix="feast-repo-", dir=workdir))
        self.store: Any = None
        self.entity_df: Any = None

    def setup(self) -> dict[str, Any]:
        import feast
        from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
        from feast.types import Float64

        start = time.perf_counter()
        (self.repo / "data").mkdir()
        (self.repo / "feature_store.yaml").write_text(
            "project: bench\n"
            "registry: data/registry.db\n"
            "provider: local\n"
            "online_store:\n  type: sqlite\n  path: data/online.db\n"
            "offline_store:\n  type: file\n"
            "entity_key_serialization_version: 3\n"
        )
        self.store = FeatureStore(repo_path=str(self.repo))
        driver = Entity(name="driver", join_keys=[JOIN_KEY], value_type=ValueType.INT64)
        source = FileSource(name="driver_stats_source", path=str(self.data / "history.parquet"), timestamp_field=TS)
        view = FeatureView(
            name=VIEW,
            entities=[driver],
            ttl=timedelta(0),
            schema=[Field(name=f, dtype=Float64) for f in FEATURES],
            online=True,
            source=source,
        )
        self.store.apply([driver, view])
        return {
            "version": feast.__version__,
            "python": platform.python_version(),
            "apply_s": time.perf_counter() - start,
        }

    def materialize(self) -> dict[str, Any]:
        start = datetime.fromtimestamp(self.meta["first_s"] - 1, UTC)
        end = datetime.fromtimestamp(self.meta["last_s"] + 1, UTC)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # its progress lines; stdout carries the protocol
            self.store.materialize(start_date=start, end_date=end)
        return {"time_s": time.perf_counter() - t0, "rows": self.meta["history_rows"]}

    def online(self, which: str, start: int, stop: int) -> dict[str, Any]:
        sums = dict.fromkeys(FEATURES, 0.0)
        missing = 0
        latencies: list[float] = []
        for ids in self.lookups[which][start:stop]:
            rows = [{JOIN_KEY: int(e)} for e in ids]
            t0 = time.perf_counter()
            result = self.store.get_online_features(features=REFS, entity_rows=rows).to_dict()
            latencies.append(time.perf_counter() - t0)
            for f in FEATURES:
                for v in result[f]:
                    if v is None:
                        missing += 1
                    else:
                        sums[f] += v
        return {"latencies_s": latencies, "sums": sums, "missing": missing}

    def pit(self) -> dict[str, Any]:
        import pandas as pd

        if self.entity_df is None:
            self.entity_df = pd.read_parquet(self.data / "entities.parquet")
        t0 = time.perf_counter()
        frame = self.store.get_historical_features(entity_df=self.entity_df, features=REFS).to_df()
        elapsed = time.perf_counter() - t0
        check = {f: {"sum": float(frame[f].sum()), "count": int(frame[f].notna().sum())} for f in FEATURES}
        return {"time_s": elapsed, "rows": len(frame), "check": check}

    def stats(self) -> dict[str, Any]:
        return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


if __name__ == "__main__":
    worker = Worker(Path(sys.argv[1]), Path(sys.argv[2]))
    try:
        serve(worker)
    finally:
        shutil.rmtree(worker.repo, ignore_errors=True)
