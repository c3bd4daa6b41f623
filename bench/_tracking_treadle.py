"""treadle side of bench/tracking.py; runs inside treadle's own .venv.

Usage: python _tracking_treadle.py DATA.npz URI. A long-lived worker: it reads one JSON request a
line from stdin and answers through bench/_worker.py, so bench/tracking.py can interleave the two
systems' repeats.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

os.environ.setdefault("TREADLE_CAPTURE_ENVIRONMENT", "false")  # not part of what is timed; keeps setup short

import treadle as td
from _worker import serve

METRICS = ("m0", "m1", "m2", "m3", "m4")
BATCH = 1000  # the same batch size as MLflow's per-request limit: both sides make the same number of calls


class Worker:
    def __init__(self, data: dict[str, np.ndarray], uri: str) -> None:
        self.data, self.uri = data, uri
        self.client = td.set_uri(uri)
        self.experiments: dict[str, str] = {}

    def experiment(self, name: str) -> str:
        if name not in self.experiments:
            self.experiments[name] = self.client.tracking.create_experiment(name).id
        return self.experiments[name]

    def history_check(self, run_id: str, values: np.ndarray) -> dict[str, Any]:
        lengths, sums = {}, {}
        for k in range(values.shape[0]):
            series = self.client.tracking.get_metric_history(run_id, METRICS[k])
            lengths[METRICS[k]] = len(series.steps)
            sums[METRICS[k]] = float(sum(series.values))
        return {"lengths": lengths, "sums": sums}

    def ingest_loop(self, steps: int, rep: int) -> dict[str, Any]:
        """``td.log_metric`` per point, step-major (m0..m4 of step 0, then step 1...), then ``td.flush()``."""
        values = self.data["ingest_values"][:, :steps]
        self.experiment("bench-ingest-loop")
        td.set_experiment("bench-ingest-loop")
        with td.start_run(name=f"loop-{rep}") as run:
            td.log_params({f"p{i}": str(v) for i, v in enumerate(self.data["ingest_params"])})
            start = time.perf_counter()
            for s in range(values.shape[1]):
                for k in range(values.shape[0]):
                    td.log_metric(METRICS[k], float(values[k, s]), step=s)
            td.flush()
            elapsed = time.perf_counter() - start
        return {"time_s": elapsed, "points": int(values.size), "check": self.history_check(run.id, values)}

    def ingest_batch(self, steps: int, rep: int, t0: int) -> dict[str, Any]:
        values = self.data["ingest_values"][:, :steps]
        points = [(METRICS[k], float(values[k, s]), s, t0 + s) for s in range(values.shape[1]) for k in range(5)]
        run_id = self.client.tracking.create_run(self.experiment("bench-ingest-batch"), name=f"batch-{rep}").id
        self.client.log_batch(run_id, params={f"p{i}": str(v) for i, v in enumerate(self.data["ingest_params"])})
        start = time.perf_counter()
        for i in range(0, len(points), BATCH):
            metrics = [td.Metric(key=k, value=v, step=s, timestamp=ts) for k, v, s, ts in points[i : i + BATCH]]
            self.client.log_batch(run_id, metrics=metrics)
        elapsed = time.perf_counter() - start
        self.client.tracking.end_run(run_id)
        return {"time_s": elapsed, "points": len(points), "check": self.history_check(run_id, values)}

    def populate_search(self, runs: int, t0: int) -> dict[str, Any]:
        pvals, mvals = self.data["search_params"][:runs], self.data["search_metrics"][:runs]
        exp = self.experiment("bench-search")
        start = time.perf_counter()
        for i in range(len(pvals)):
            run_id = self.client.tracking.create_run(exp, name=f"run-{i:05d}", start_time=t0 + i).id
            self.client.log_batch(
                run_id,
                metrics=[
                    td.Metric(key=METRICS[k], value=float(mvals[i, k]), step=0, timestamp=t0)
                    for k in range(mvals.shape[1])
                ],
                params={f"p{j}": f"v{int(pvals[i, j])}" for j in range(pvals.shape[1])},
            )
        return {"seconds": time.perf_counter() - start}

    def search(self, filter: str, order_by: list[str], max_results: int) -> dict[str, Any]:
        exp = self.experiment("bench-search")
        start = time.perf_counter()
        page = self.client.tracking.search_runs(
            experiment_ids=[exp], filter=filter, order_by=order_by, max_results=max_results
        )
        elapsed = time.perf_counter() - start
        return {"time_s": elapsed, "names": [r.name for r in page.runs]}

    def history_setup(self, steps: int, t0: int) -> dict[str, Any]:
        values = self.data["history_values"][:steps]
        run_id = self.client.tracking.create_run(self.experiment("bench-history"), name="history").id
        for i in range(0, len(values), BATCH):
            chunk = values[i : i + BATCH]
            metrics = [
                td.Metric(key="loss", value=float(v), step=i + j, timestamp=t0 + i + j) for j, v in enumerate(chunk)
            ]
            self.client.log_batch(run_id, metrics=metrics)
        return {"run_id": run_id}

    def history(self, run_id: str, steps: int) -> dict[str, Any]:
        values = self.data["history_values"][:steps]
        start = time.perf_counter()
        series = self.client.tracking.get_metric_history(run_id, "loss")
        elapsed = time.perf_counter() - start
        same = len(series.values) == len(values)
        return {
            "time_s": elapsed,
            "length": len(series.steps),
            "downsampled": series.downsampled,
            "steps_ok": list(series.steps) == list(range(len(values))),
            "values_ok": bool(same and np.allclose(series.values, values)),
        }

    def facts(self) -> dict[str, Any]:
        return {"python": sys.version.split()[0], "version": td.__version__}


def main() -> None:
    data_path, uri = sys.argv[1:3]
    with np.load(data_path) as npz:
        data = {k: npz[k] for k in npz.files}
    serve(Worker(data, uri))


if __name__ == "__main__":
    main()
