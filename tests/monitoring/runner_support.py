"""Shared set-up of the runner's tests: a real model trained on a real dataset version inside a
tracked run (so lineage links them), registered, aliased and deployed; and request-log parts
written by the real :class:`RequestLogger`."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import treadle as td
from treadle.serving._reqlog import RequestLogger
from treadle.serving._types import LogRecord

FEATURES = ["f0", "f1", "f2", "f3"]
MODEL, DEPLOYMENT, DATASET = "churn", "churn", "churn-train"


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Four numeric features and a binary label that depends on them; ``shift`` moves f0 and f1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[:, :2] += shift
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame(x, columns=FEATURES)
    df["label"] = y
    return df


def served_model(rows: int = 600) -> LogisticRegression:
    """Dataset version -> run that reads it (td.log_input) -> logged, registered model @champion ->
    a deployment serving it. Returns the fitted model."""
    data = frame(rows, seed=0)
    td.datasets.create(DATASET, data)
    with td.start_run():
        td.log_input(td.datasets.get(DATASET))
        model = LogisticRegression().fit(data[FEATURES], data["label"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            td.log_model(
                model,
                "model",
                registered_model_name=MODEL,
                input_example=data[FEATURES].head(3),
                requirements=["scikit-learn"],  # skips inferring them (seconds of metadata scans)
            )
    td.set_alias(MODEL, "champion", 1)
    td.deployments.apply(
        {
            "name": DEPLOYMENT,
            "model": MODEL,
            "routes": [{"name": "champion", "model": f"models:/{MODEL}@champion"}],
            "replicas": {"min_replicas": 0},
        }
    )
    return model


def now_ms() -> int:
    return int(time.time() * 1000)


def record(
    rid: str,
    time_ms: int,
    inputs: dict[str, Any],
    outputs: dict[str, Any] | None,
    status: int = 200,
    endpoint: str = DEPLOYMENT,
) -> LogRecord:
    return LogRecord(
        id=rid,
        time_ms=time_ms,
        endpoint=endpoint,
        model_version="1",
        inputs={k: np.asarray(v, dtype=object if any(x is None for x in v) else None) for k, v in inputs.items()},
        outputs=None if outputs is None else {k: np.asarray(v) for k, v in outputs.items()},
        latency_ms=1.0,
        status=status,
    )


def served_records(
    model: LogisticRegression, data: pd.DataFrame, t0: int, prefix: str, *, proba: bool = False
) -> list[LogRecord]:
    """One OIP-style request per row (a [1, 4] tensor) answered by the real model, 1 ms apart."""
    x = data[FEATURES].to_numpy()
    pred = model.predict(data[FEATURES])
    probs = model.predict_proba(data[FEATURES])
    out = []
    for i in range(len(data)):
        outputs: dict[str, Any] = {"predict": pred[i : i + 1]}
        if proba:
            outputs["predict_proba"] = probs[i : i + 1]
        out.append(record(f"{prefix}-{i:05d}", t0 + i, {"input": x[i : i + 1]}, outputs))
    return out


def write_log(records: list[LogRecord]) -> None:
    """Write the records as request-log parts through the real logger (flushed on close)."""
    logger = RequestLogger(td.get_client(), flush_rows=500, flush_interval_s=60)
    for r in records:
        logger.log(r)
    logger.close()
    assert logger.written == len(records), (logger.written, logger.dropped, logger.failed)
