"""Fixtures for the inference server: a real registry, real models, a real uvicorn server.

- ``cancer_data`` (session): breast-cancer features (DataFrame, 30 float columns) and labels.
- ``cancer_model`` (session): a fitted scikit-learn LogisticRegression pipeline on them.
- ``cancer_model_dir`` (session): that model saved with ``treadle.models.save_model`` (with an example).
- ``echo_model_dir`` (session): a python-flavor model without a signature that answers its inputs
  back unchanged (raises when an input named ``boom`` is sent), for datatype round trips and errors.
- ``serving_client`` (module): a :class:`treadle.client.Client` on a fresh SQLite store in which the
  cancer model is registered as ``cancer`` version 1 with the alias ``champion``.
- ``served`` (module): a running server (uvicorn on a free port) with ``cancer``
  (``models:/cancer@champion``, inline) and ``echo``; a :class:`Served` with ``url`` and ``app``.
- :func:`serving_url` (a context manager, not a fixture): any endpoints behind a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from treadle.client import Client
from treadle.models import PythonModel, PythonModelContext, save_model
from treadle.rollout._spec import ModelSpec, ReplicaSpec
from treadle.serving._app import create_serving_app
from treadle.serving._metrics import ServingMetrics
from treadle.serving._model import ModelEndpoint
from treadle.serving._types import Endpoint
from treadle.testing.server import serve

INLINE = ReplicaSpec(min_replicas=0)


class Echo(PythonModel):
    """Answers every input back under its own name; an input named ``boom`` makes it raise."""

    def predict(self, context: PythonModelContext, data: Any) -> Any:
        if isinstance(data, dict) and "boom" in data:
            raise RuntimeError("boom was requested")
        return dict(data) if isinstance(data, dict) else {"echo": data}


@dataclass
class Served:
    url: str
    app: Any
    client: Client

    @property
    def metrics(self) -> ServingMetrics:
        metrics: ServingMetrics = self.app.state.metrics
        return metrics


@pytest.fixture(scope="session")
def cancer_data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="session")
def cancer_model(cancer_data: tuple[pd.DataFrame, np.ndarray]) -> Any:
    X, y = cancer_data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture(scope="session")
def cancer_model_dir(
    tmp_path_factory: pytest.TempPathFactory, cancer_model: Any, cancer_data: tuple[pd.DataFrame, np.ndarray]
) -> Path:
    path = tmp_path_factory.mktemp("cancer") / "model"
    save_model(cancer_model, path, input_example=cancer_data[0].head(5))
    return path


@pytest.fixture(scope="session")
def echo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("echo") / "model"
    save_model(Echo(), path, requirements=[])
    return path


@pytest.fixture(scope="module")
def serving_client(tmp_path_factory: pytest.TempPathFactory, cancer_model_dir: Path) -> Iterator[Client]:
    root = tmp_path_factory.mktemp("serving-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TREADLE_CACHE", str(root / "cache"))
        mp.setenv("TREADLE_CAPTURE_ENVIRONMENT", "false")
        client = Client(f"sqlite:///{root / 'treadle.db'}", str(root / "artifacts"))
        version = client.register_model(str(cancer_model_dir), "cancer")
        client.set_alias("cancer", "champion", version.version)
        yield client


@contextmanager
def serving_url(endpoints: list[Endpoint], **options: Any) -> Iterator[tuple[str, Any]]:
    """``(base url, app)`` of a real server over ``endpoints`` (options go to ``create_serving_app``)."""
    app = create_serving_app(endpoints, **options)
    with serve(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def served(serving_client: Client, echo_model_dir: Path) -> Iterator[Served]:
    metrics = ServingMetrics()
    cancer = ModelEndpoint(
        ModelSpec(name="cancer", uri="models:/cancer@champion", replicas=INLINE, reload=False),
        serving_client,
        metrics=metrics,
    )
    echo = ModelEndpoint(
        ModelSpec(name="echo", uri=str(echo_model_dir), replicas=INLINE), serving_client, metrics=metrics
    )
    with serving_url([cancer, echo], metrics=metrics) as (url, app):
        yield Served(url=url, app=app, client=serving_client)
