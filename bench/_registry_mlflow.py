"""MLflow side of bench/registry.py; runs inside .bench-venv (never imports treadle).

Usage: python _registry_mlflow.py DATA.npz URI. A long-lived worker: it reads one JSON request a
line from stdin and answers through bench/_worker.py, so bench/registry.py can interleave the two
systems' repeats.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from _worker import serve

ALIAS = "champion"


class Worker:
    def __init__(self, data: dict[str, np.ndarray], uri: str) -> None:
        self.x, self.y = data["x"], data["y"]
        self.model = LogisticRegression(max_iter=1000, random_state=0).fit(self.x, self.y)
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient(uri)
        # pyfunc.load_model downloads into a new temporary folder each time: keep those in the
        # worker's working directory (the benchmark's temporary directory, removed at the end).
        tmp = Path("mlflow-downloads").resolve()
        tmp.mkdir(exist_ok=True)
        tempfile.tempdir = str(tmp)
        os.environ["TMPDIR"] = str(tmp)

    def log(self) -> dict[str, Any]:
        """Log the model into a new run (once; not a timed phase). Pickled with cloudpickle, as
        treadle's sklearn flavor does (MLflow's default, skops, is not installed with mlflow)."""
        mlflow.set_experiment("bench-registry")
        start = time.perf_counter()
        with mlflow.start_run(run_name="registry-model") as run:
            info = mlflow.sklearn.log_model(
                self.model,
                name="model",
                input_example=self.x[:5],
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            )
        self.run_id, self.model_id, self.model_uri = run.info.run_id, info.model_id, info.model_uri
        return {"seconds": time.perf_counter() - start, "uri": f"runs:/{run.info.run_id}/model"}

    def register(self, uri: str, name: str) -> dict[str, Any]:
        start = time.perf_counter()
        version = mlflow.register_model(uri, name)
        elapsed = time.perf_counter() - start
        return {"time_s": elapsed, "version": int(version.version)}

    def register_client(self, name: str) -> dict[str, Any]:
        """The lean path: one ``MlflowClient.create_model_version`` from the logged model (models:/m-...),
        the name created beforehand (for comparison only: users call ``mlflow.register_model``)."""
        if self.client.search_registered_models(f"name = '{name}'") == []:
            self.client.create_registered_model(name)
        start = time.perf_counter()
        version = self.client.create_model_version(name, self.model_uri, run_id=self.run_id, model_id=self.model_id)
        elapsed = time.perf_counter() - start
        return {"time_s": elapsed, "version": int(version.version)}

    def set_alias(self, name: str, version: int) -> dict[str, Any]:
        self.client.set_registered_model_alias(name, ALIAS, str(version))
        return {"version": int(self.client.get_model_version_by_alias(name, ALIAS).version)}

    def load(self, name: str, mode: str) -> dict[str, Any]:
        """``models:/name@champion`` until a predictor is ready (MLflow has no cache: every load downloads)."""
        start = time.perf_counter()
        model = mlflow.pyfunc.load_model(f"models:/{name}@{ALIAS}")
        elapsed = time.perf_counter() - start
        out = self.check(model.predict(self.x), model.get_raw_model().predict_proba(self.x))
        return {"time_s": elapsed, **out}

    def check(self, labels: Any, proba: Any) -> dict[str, Any]:
        return {
            "labels": np.asarray(labels).tolist(),
            "proba": np.asarray(proba).tolist(),
            "same_as_original": bool(np.array_equal(np.asarray(labels), self.model.predict(self.x))),
        }

    def original(self) -> dict[str, Any]:
        return self.check(self.model.predict(self.x), self.model.predict_proba(self.x))

    def facts(self) -> dict[str, Any]:
        import sklearn

        return {"python": sys.version.split()[0], "version": mlflow.__version__, "sklearn": sklearn.__version__}


def main() -> None:
    data_path, uri = sys.argv[1:3]
    with np.load(data_path) as npz:
        data = {k: npz[k] for k in npz.files}
    serve(Worker(data, uri))


if __name__ == "__main__":
    main()
