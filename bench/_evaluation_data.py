"""The evaluation benchmark's model, shared by both sides (imported in .venv and .bench-venv):
the same seeded data and the same deterministic estimator, so each side trains an identical model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FEATURES = [f"x{i}" for i in range(10)]
SEGMENTS = 5


def make(path: Path, rows: int, train_rows: int, seed: int = 0) -> None:
    """Write ``rows`` evaluation rows and ``train_rows`` training rows (10 numeric features, a
    5-value ``segment`` that shifts the label) to ``path`` (.npz)."""
    rng = np.random.default_rng(seed)
    n = rows + train_rows
    x = rng.normal(size=(n, len(FEATURES)))
    segment = rng.integers(0, SEGMENTS, n)
    weights = rng.normal(size=len(FEATURES))
    logit = x @ weights + 0.4 * (segment - 2) + rng.normal(size=n) * (0.5 + 0.4 * segment)
    label = (logit > 0).astype(np.int64)
    np.savez(path, x=x, segment=segment, label=label, rows=rows)


def frames(path: Path) -> tuple[Any, Any]:
    """(evaluation frame, training frame): features, ``segment`` (also a feature) and ``label``."""
    import pandas as pd

    data = np.load(path)
    rows = int(data["rows"])
    frame = pd.DataFrame(data["x"], columns=FEATURES)
    frame["segment"] = data["segment"]
    frame["label"] = data["label"]
    return frame.iloc[:rows].reset_index(drop=True), frame.iloc[rows:].reset_index(drop=True)


def train(frame: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(frame[[*FEATURES, "segment"]], frame["label"])
