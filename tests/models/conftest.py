"""Small data for model round trips (scikit-learn's bundled iris: no downloads)."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    sklearn_datasets = pytest.importorskip(
        "sklearn.datasets", reason="scikit-learn missing: pip install 'treadle[sklearn]'"
    )
    X, y = sklearn_datasets.load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X, y
