"""treadle side of bench/serving.py's preparation; runs inside treadle's .venv.

Usage: python _serving_treadle.py DATA.npz URI ARTIFACTS OUT.json

Fits the benchmark's two models on the breast-cancer data (a DataFrame with its 30 named columns):
the LogisticRegression that MLflow gets too, and a 200-tree RandomForestClassifier for the batching
comparison; logs each with ``td.log_model`` (input example = 5 rows) into the given backend and
registers them as ``bench-bc`` and ``bench-rf`` version 1. Measures the in-process floor of each:
one-row ``predict`` of the sklearn model itself and of ``td.load_model(...)``; for the forest also
a 32-row predict (what one batch costs). Writes the labels for the request rows and the floors.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TREADLE_CAPTURE_ENVIRONMENT", "false")  # not part of what is measured

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import treadle as td


def per_call(fn: Any, arg: Any, repeats: int) -> float:
    """Median seconds of ``fn(arg)`` over ``repeats`` calls (after 10 warm-up calls)."""
    for _ in range(10):
        fn(arg)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    data_path, uri, artifacts, out_path = sys.argv[1:5]
    with np.load(data_path) as npz:
        x, y, rows = npz["x"], npz["y"], npz["rows"]
    columns = json.loads((Path(data_path).parent / "columns.json").read_text())
    repeats = int(json.loads((Path(data_path).parent / "floor.json").read_text())["repeats"])
    frame = pd.DataFrame(x, columns=columns)
    models = {
        "bench-bc": LogisticRegression(max_iter=10000, random_state=0).fit(frame, y),
        "bench-rf": RandomForestClassifier(n_estimators=200, random_state=0).fit(frame, y),
    }
    td.set_uri(uri, artifacts)
    td.set_experiment("bench-serving")
    one = frame.iloc[[0]]
    request_rows = pd.DataFrame(x[rows], columns=columns)
    result: dict[str, Any] = {
        "treadle": td.__version__,
        "sklearn": sklearn.__version__,
        "python": sys.version.split()[0],
        "models": {},
    }
    for name, model in models.items():
        with td.start_run(name=name):
            td.log_model(model, "model", registered_model_name=name, input_example=frame.iloc[:5])
        loaded = td.load_model(f"models:/{name}/1")
        labels = [int(v) for v in np.asarray(loaded.predict(request_rows)).ravel()]
        if labels != [int(v) for v in model.predict(request_rows)]:
            raise SystemExit(f"{name}: the loaded model predicts differently from the fitted one")
        reps = repeats if name == "bench-bc" else max(20, repeats // 20)
        floor = {
            "sklearn_predict_1_row": per_call(model.predict, one, reps),
            "treadle_predict_1_row": per_call(loaded.predict, one, reps),
        }
        if name == "bench-rf":
            floor["treadle_predict_32_rows"] = per_call(loaded.predict, frame.iloc[:32], reps)
        result["models"][name] = {"model_uri": f"models:/{name}/1", "labels": labels, "floor_s": floor}
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
