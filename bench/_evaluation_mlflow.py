"""MLflow's side of bench/evaluation.py (runs in .bench-venv): train, log, then time
``mlflow.models.evaluate`` on the whole data plus once per slice (how MLflow users get slice
metrics). ``python _evaluation_mlflow.py DATA OUT REPEATS``; writes JSON to OUT."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _evaluation_data import FEATURES, SEGMENTS, frames, train


def main(data: Path, out: Path, repeats: int) -> None:
    warnings.filterwarnings("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-mlflow-"))
    os.chdir(tmp)
    import mlflow
    import mlflow.models

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_experiment("bench-eval")
    frame, train_frame = frames(data)
    model = train(train_frame)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=frame[[*FEATURES, "segment"]].head())
    model_uri = info.model_uri

    def evaluate(part):  # type: ignore[no-untyped-def]
        with mlflow.start_run():
            metrics = mlflow.models.evaluate(
                model_uri, part, targets="label", model_type="classifier", evaluators="default"
            ).metrics
        return {k: float(v) for k, v in metrics.items()}

    evaluate(frame.head(2000))  # warm-up: MLflow imports its evaluators and plotting on first use
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        overall = evaluate(frame)
        slices = {str(s): evaluate(frame[frame["segment"] == s]) for s in range(SEGMENTS)}
        times.append(time.perf_counter() - start)
    proba = model.predict_proba(frame[[*FEATURES, "segment"]])[:, 1]
    out.write_text(
        json.dumps(
            {
                "version": mlflow.__version__,
                "python": sys.version.split()[0],
                "times": times,
                "metrics": overall,
                "slices": slices,
                "proba_head": proba[:1000].tolist(),
                "proba_sum": float(np.sum(proba)),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
