"""treadle's side of bench/evaluation.py (runs in .venv): train, register, then time ``td.evaluate``
with 5 slices. ``python _evaluation_treadle.py DATA OUT REPEATS``; writes JSON to OUT."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _evaluation_data import FEATURES, frames, train


def main(data: Path, out: Path, repeats: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-treadle-"))
    os.environ.update(
        TREADLE_URI=f"sqlite:///{tmp / 'treadle.db'}",
        TREADLE_ARTIFACTS=str(tmp / "artifacts"),
        TREADLE_CACHE=str(tmp / "cache"),
        TREADLE_CAPTURE_ENVIRONMENT="false",
        TREADLE_SYSTEM_METRICS_INTERVAL_S="0",
    )
    import treadle as td
    import treadle.evaluation  # imported before timing, like mlflow.models on the other side

    frame, train_frame = frames(data)
    model = train(train_frame)
    with td.start_run(experiment="bench-train"):
        uri = td.log_model(
            model, "model", input_example=frame[[*FEATURES, "segment"]].head(), requirements=["scikit-learn"]
        )
    version = td.register_model(uri, "bench-clf").version
    model_uri = f"models:/bench-clf/{version}"
    td.evaluate(model_uri, frame.head(2000), targets="label", slices=["segment"], explain=False)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = td.evaluate(model_uri, frame, targets="label", slices=["segment"], explain=False)
        times.append(time.perf_counter() - start)
    proba = model.predict_proba(frame[[*FEATURES, "segment"]])[:, 1]
    slices = {label.split("=")[1]: s.metrics for label, s in result.slices.items()}
    out.write_text(
        json.dumps(
            {
                "version": td.__version__,
                "python": sys.version.split()[0],
                "times": times,
                "metrics": result.metrics,
                "slices": slices,
                "proba_head": proba[:1000].tolist(),
                "proba_sum": float(np.sum(proba)),
                "plots": result.plots,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
