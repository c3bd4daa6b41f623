"""MLflow side of bench/serving.py's preparation; runs inside .bench-venv (never imports treadle).

Usage: python _serving_mlflow.py DATA.npz WORKDIR OUT.json

Fits the benchmark's LogisticRegression on the breast-cancer data (a DataFrame with its 30 named
columns), logs it with ``mlflow.sklearn.log_model`` (cloudpickle, as treadle's sklearn flavor
pickles; input example = 5 rows, so the signature has the 30 columns) into a SQLite tracking store
under WORKDIR, registers it as ``bench-bc`` version 1, and measures the in-process floor: one-row
``predict`` of the sklearn model itself and of the loaded pyfunc. Writes the model URI, the
tracking URI, the floor and its labels for the request rows to OUT.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression

NAME = "bench-bc"


def per_call(fn: Any, arg: Any, repeats: int) -> float:
    """Median seconds of ``fn(arg)`` over ``repeats`` calls (after 20 warm-up calls)."""
    for _ in range(20):
        fn(arg)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    data_path, workdir, out_path = sys.argv[1:4]
    work = Path(workdir)
    with np.load(data_path) as npz:
        x, y, rows = npz["x"], npz["y"], npz["rows"]
    columns = json.loads((Path(data_path).parent / "columns.json").read_text())
    repeats = int(json.loads((Path(data_path).parent / "floor.json").read_text())["repeats"])
    frame = pd.DataFrame(x, columns=columns)
    model = LogisticRegression(max_iter=10000, random_state=0).fit(frame, y)

    tracking = f"sqlite:///{work / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    exp = mlflow.create_experiment("bench-serving", artifact_location=(work / "mlflow-artifacts").as_uri())
    with mlflow.start_run(experiment_id=exp):
        mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=frame.iloc[:5],
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            registered_model_name=NAME,
        )
    uri = f"models:/{NAME}/1"
    loaded = mlflow.pyfunc.load_model(uri)
    one = frame.iloc[[0]]
    request_rows = pd.DataFrame(x[rows], columns=columns)
    labels = [int(v) for v in np.asarray(loaded.predict(request_rows)).ravel()]
    if labels != [int(v) for v in model.predict(request_rows)]:
        raise SystemExit("the loaded pyfunc predicts differently from the fitted model")
    result = {
        "model_uri": uri,
        "tracking_uri": tracking,
        "mlflow": mlflow.__version__,
        "sklearn": sklearn.__version__,
        "python": sys.version.split()[0],
        "labels": labels,
        "floor_s": {
            "sklearn_predict_1_row": per_call(model.predict, one, repeats),
            "pyfunc_predict_1_row": per_call(loaded.predict, one, repeats),
        },
    }
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
