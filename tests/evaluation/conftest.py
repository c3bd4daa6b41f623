"""A fresh SQLite store per test made the SDK's client, and a small seeded binary classification set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from treadle.client import Client
from treadle.client import _fluent as fluent


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    c = fluent.set_uri(f"sqlite:///{tmp_path / 'eval.db'}", str(tmp_path / "artifacts"))
    yield c
    while fluent.active_run() is not None:
        fluent.end_run()


def make_frame(n: int = 600, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Two informative features, a 3-value region (one region noisier), a binary label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "region": rng.choice(["eu", "us", "apac"], size=n, p=[0.5, 0.3, 0.2]),
        }
    )
    noise = np.where(frame["region"] == "apac", 2.0, 0.4)
    frame["y"] = (frame["a"] + 0.5 * frame["b"] + shift + rng.normal(size=n) * noise > 0).astype(int)
    return frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()
