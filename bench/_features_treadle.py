"""treadle side of bench/features.py; runs inside treadle's own .venv.

Usage: python _features_treadle.py DATA_DIR WORKDIR. A long-lived worker: it reads one JSON request
a line from stdin and answers through bench/_worker.py, so bench/features.py can alternate the two
systems' repeats.

The same definitions as the Feast side (bench/_features_feast.py), through treadle's API: a local
backend (SQLite metadata, a blob folder) and an embedded SQLite online store, all in a temporary
folder under WORKDIR; one entity ``driver`` (join key ``driver_id``) and one feature view
``driver_stats`` of the ten float64 features over a ``FileSource`` of DATA_DIR/history.parquet,
``ttl=None`` (never expires). Operations:

- ``setup``: ``apply`` the definitions;
- ``materialize``: ``materialize(incremental=False)`` of the whole history into the empty online
  store, timed;
- ``online(which, start, stop)``: one in-process ``get_online_features(entity_rows, features)``
  call per lookup ``start:stop`` of lookups.npz, each timed with the values read out of the answer
  (``to_dict()``, as Feast's ``.to_dict()`` is);
- ``pit``: ``get_training_frame(entity_df, features)`` of entities.parquet (read into pandas once,
  untimed, the same frame Feast gets), the answer turned into pandas inside the timer as Feast's
  ``.to_df()`` returns, timed;
- ``stats``: the peak RSS of this process (the scale check).
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _features_data import FEATURES, JOIN_KEY, TS, VIEW, load_lookups, load_meta
from _worker import serve

REFS = [f"{VIEW}:{f}" for f in FEATURES]


def open_features(work: Path) -> Any:
    """treadle's feature service on a fresh local backend under ``work``."""
    os.environ["TREADLE_URI"] = f"sqlite:///{work / 'treadle.db'}"
    os.environ["TREADLE_ARTIFACTS"] = str(work / "artifacts")
    os.environ["TREADLE_ONLINE_STORE"] = f"sqlite:///{work / 'online.db'}"
    os.environ.setdefault("TREADLE_CAPTURE_ENVIRONMENT", "false")
    import treadle as td

    features = td.Client().features
    return features


def to_pandas(frame: Any) -> Any:
    return frame if hasattr(frame, "iloc") else frame.to_pandas()


class Worker:
    def __init__(self, data: Path, workdir: Path) -> None:
        self.data = data
        self.meta = load_meta(data)
        self.lookups = dict(zip(("one", "hundred"), load_lookups(data), strict=True))
        self.work = Path(tempfile.mkdtemp(prefix="treadle-features-", dir=workdir))
        self.features: Any = None
        self.entity_df: Any = None

    def setup(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        self.features = open_features(self.work)
        import treadle
        from treadle.data import FileSource
        from treadle.features import Entity, FeatureView, Field

        driver = Entity("driver", join_keys=[JOIN_KEY])
        view = FeatureView(
            name=VIEW,
            entities=[driver],
            source=FileSource(str(self.data / "history.parquet")),
            schema=[Field(f, "float64") for f in FEATURES],
            timestamp_field=TS,
            ttl=None,
        )
        self.features.apply([driver.spec(), view.spec()])
        return {
            "version": treadle.__version__,
            "python": platform.python_version(),
            "apply_s": time.perf_counter() - t0,
        }

    def materialize(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        report = self.features.materialize(incremental=False)
        elapsed = time.perf_counter() - t0
        dump = report.model_dump(mode="json") if hasattr(report, "model_dump") else str(report)
        return {"time_s": elapsed, "rows": self.meta["history_rows"], "report": dump}

    def online(self, which: str, start: int, stop: int) -> dict[str, Any]:
        sums = dict.fromkeys(FEATURES, 0.0)
        missing = 0
        latencies: list[float] = []
        get = self.features.get_online_features
        for ids in self.lookups[which][start:stop]:
            rows = [{JOIN_KEY: int(e)} for e in ids]
            t0 = time.perf_counter()
            result = get(rows, REFS).to_dict()
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
        frame = to_pandas(self.features.get_training_frame(self.entity_df, REFS))
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
        shutil.rmtree(worker.work, ignore_errors=True)
