"""MLflow side of bench/tracking.py; runs inside .bench-venv (never imports treadle).

Usage: python _tracking_mlflow.py DATA.npz URI. A long-lived worker: it reads one JSON request a
line from stdin and answers through bench/_worker.py, so bench/tracking.py can interleave the two
systems' repeats.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from _worker import serve

METRICS = ("m0", "m1", "m2", "m3", "m4")
BATCH = 1000  # MLflow's limit of metrics per log_batch request


class Worker:
    def __init__(self, data: dict[str, np.ndarray], uri: str) -> None:
        self.data, self.uri = data, uri
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient(uri)
        self.experiments: dict[str, str] = {}

    def experiment(self, name: str) -> str:
        if name not in self.experiments:
            self.experiments[name] = self.client.create_experiment(name)
        return self.experiments[name]

    def history_check(self, run_id: str, values: np.ndarray) -> dict[str, Any]:
        lengths, sums = {}, {}
        for k in range(values.shape[0]):
            hist = self.client.get_metric_history(run_id, METRICS[k])
            lengths[METRICS[k]] = len(hist)
            sums[METRICS[k]] = float(sum(m.value for m in hist))
        return {"lengths": lengths, "sums": sums}

    def ingest_loop(self, steps: int, rep: int) -> dict[str, Any]:
        """Synchronous ``mlflow.log_metric`` per point, step-major (m0..m4 of step 0, then step 1...)."""
        values = self.data["ingest_values"][:, :steps]
        mlflow.set_experiment(experiment_id=self.experiment("bench-ingest-loop"))
        with mlflow.start_run(run_name=f"loop-{rep}") as run:
            mlflow.log_params({f"p{i}": str(v) for i, v in enumerate(self.data["ingest_params"])})
            start = time.perf_counter()
            for s in range(values.shape[1]):
                for k in range(values.shape[0]):
                    mlflow.log_metric(METRICS[k], float(values[k, s]), step=s)
            elapsed = time.perf_counter() - start
        return {"time_s": elapsed, "points": int(values.size), "check": self.history_check(run.info.run_id, values)}

    def ingest_batch(self, steps: int, rep: int, t0: int) -> dict[str, Any]:
        values = self.data["ingest_values"][:, :steps]
        points = [(METRICS[k], float(values[k, s]), s, t0 + s) for s in range(values.shape[1]) for k in range(5)]
        run_id = self.client.create_run(self.experiment("bench-ingest-batch"), run_name=f"batch-{rep}").info.run_id
        self.client.log_batch(run_id, params=[Param(f"p{i}", str(v)) for i, v in enumerate(self.data["ingest_params"])])
        start = time.perf_counter()
        for i in range(0, len(points), BATCH):
            metrics = [Metric(key, value, ts, step) for key, value, step, ts in points[i : i + BATCH]]
            self.client.log_batch(run_id, metrics=metrics)
        elapsed = time.perf_counter() - start
        self.client.set_terminated(run_id)
        return {"time_s": elapsed, "points": len(points), "check": self.history_check(run_id, values)}

    def populate_search(self, runs: int, t0: int) -> dict[str, Any]:
        pvals, mvals = self.data["search_params"][:runs], self.data["search_metrics"][:runs]
        exp = self.experiment("bench-search")
        start = time.perf_counter()
        for i in range(len(pvals)):
            run_id = self.client.create_run(exp, run_name=f"run-{i:05d}", start_time=t0 + i).info.run_id
            self.client.log_batch(
                run_id,
                metrics=[Metric(METRICS[k], float(mvals[i, k]), t0, 0) for k in range(mvals.shape[1])],
                params=[Param(f"p{j}", f"v{int(pvals[i, j])}") for j in range(pvals.shape[1])],
            )
        return {"seconds": time.perf_counter() - start}

    def search(self, filter: str, order_by: list[str], max_results: int) -> dict[str, Any]:
        exp = self.experiment("bench-search")
        start = time.perf_counter()
        page = self.client.search_runs([exp], filter_string=filter, order_by=order_by, max_results=max_results)
        elapsed = time.perf_counter() - start
        return {"time_s": elapsed, "names": [r.info.run_name for r in page]}

    def history_setup(self, steps: int, t0: int) -> dict[str, Any]:
        values = self.data["history_values"][:steps]
        run_id = self.client.create_run(self.experiment("bench-history"), run_name="history").info.run_id
        for i in range(0, len(values), BATCH):
            chunk = values[i : i + BATCH]
            metrics = [Metric("loss", float(v), t0 + i + j, i + j) for j, v in enumerate(chunk)]
            self.client.log_batch(run_id, metrics=metrics)
        return {"run_id": run_id}

    def history(self, run_id: str, steps: int) -> dict[str, Any]:
        values = self.data["history_values"][:steps]
        start = time.perf_counter()
        hist = self.client.get_metric_history(run_id, "loss")
        elapsed = time.perf_counter() - start
        by_step = sorted(hist, key=lambda m: m.step)
        same = len(by_step) == len(values)
        return {
            "time_s": elapsed,
            "length": len(hist),
            "steps_ok": [m.step for m in by_step] == list(range(len(values))),
            "values_ok": bool(same and np.allclose([m.value for m in by_step], values)),
        }

    def facts(self) -> dict[str, Any]:
        return {"python": sys.version.split()[0], "version": mlflow.__version__}


def main() -> None:
    data_path, uri = sys.argv[1:3]
    with np.load(data_path) as npz:
        data = {k: npz[k] for k in npz.files}
    serve(Worker(data, uri))


if __name__ == "__main__":
    main()
