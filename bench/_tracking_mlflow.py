"""MLflow side of bench/tracking.py; runs inside .bench-venv (never imports treadle).

Usage: python _tracking_mlflow.py PHASE ARGS.json OUT.json. Each phase times the public MLflow
client against a running ``mlflow server`` and writes its timings and what it read back as JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

METRICS = ("m0", "m1", "m2", "m3", "m4")
BATCH = 1000  # MLflow's limit of metrics per log_batch request


def _points(values: np.ndarray, t0: int) -> list[tuple[str, float, int, int]]:
    """(key, value, step, timestamp), step-major: step 0 of m0..m4, then step 1, ..."""
    keys, steps = values.shape
    return [(METRICS[k], float(values[k, s]), s, t0 + s) for s in range(steps) for k in range(keys)]


def _history_check(client: MlflowClient, run_id: str, values: np.ndarray) -> dict[str, object]:
    lengths, sums = {}, {}
    for k in range(values.shape[0]):
        hist = client.get_metric_history(run_id, METRICS[k])
        lengths[METRICS[k]] = len(hist)
        sums[METRICS[k]] = float(sum(m.value for m in hist))
    return {"lengths": lengths, "sums": sums}


def ingest_loop(args: dict, data: dict) -> dict:
    values = data["ingest_values"][:, : args["steps"]]
    params = {f"p{i}": str(v) for i, v in enumerate(data["ingest_params"])}
    mlflow.set_tracking_uri(args["uri"])
    mlflow.set_experiment("bench-ingest-loop")
    client = MlflowClient()
    times, checks = [], []
    for rep in range(args["repeats"]):
        with mlflow.start_run(run_name=f"loop-{rep}") as run:
            mlflow.log_params(params)
            start = time.perf_counter()
            for s in range(values.shape[1]):
                for k in range(values.shape[0]):
                    mlflow.log_metric(METRICS[k], float(values[k, s]), step=s)
            times.append(time.perf_counter() - start)
        checks.append(_history_check(client, run.info.run_id, values))
    return {"times_s": times, "points": int(values.size), "checks": checks}


def ingest_batch(args: dict, data: dict) -> dict:
    values = data["ingest_values"][:, : args["steps"]]
    params = [Param(f"p{i}", str(v)) for i, v in enumerate(data["ingest_params"])]
    client = MlflowClient(args["uri"])
    exp = client.create_experiment("bench-ingest-batch")
    points = _points(values, args["t0"])
    times, checks = [], []
    for rep in range(args["repeats"]):
        run_id = client.create_run(exp, run_name=f"batch-{rep}").info.run_id
        client.log_batch(run_id, params=params)
        start = time.perf_counter()
        for i in range(0, len(points), BATCH):
            metrics = [Metric(key, value, ts, step) for key, value, step, ts in points[i : i + BATCH]]
            client.log_batch(run_id, metrics=metrics)
        times.append(time.perf_counter() - start)
        client.set_terminated(run_id)
        checks.append(_history_check(client, run_id, values))
    return {"times_s": times, "points": len(points), "checks": checks}


def populate_search(args: dict, data: dict) -> dict:
    pvals, mvals = data["search_params"][: args["runs"]], data["search_metrics"][: args["runs"]]
    client = MlflowClient(args["uri"])
    exp = client.create_experiment("bench-search")
    start = time.perf_counter()
    for i in range(len(pvals)):
        run_id = client.create_run(exp, run_name=f"run-{i:05d}", start_time=args["t0"] + i).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(METRICS[k], float(mvals[i, k]), args["t0"], 0) for k in range(mvals.shape[1])],
            params=[Param(f"p{j}", f"v{int(pvals[i, j])}") for j in range(pvals.shape[1])],
        )
    return {"experiment_id": exp, "seconds": time.perf_counter() - start}


def search(args: dict, data: dict) -> dict:
    client = MlflowClient(args["uri"])

    def once(max_results: int) -> list[str]:
        page = client.search_runs(
            [args["experiment_id"]], filter_string=args["filter"], order_by=args["order_by"], max_results=max_results
        )
        return [r.info.run_name for r in page]

    every = once(args["runs"])  # all matches in one page: the count to compare
    for _ in range(args["warmup"]):
        once(args["max_results"])
    times = []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        names = once(args["max_results"])
        times.append(time.perf_counter() - start)
    return {"times_s": times, "matches": len(every), "page": names}


def history(args: dict, data: dict) -> dict:
    values = data["history_values"][: args["steps"]]
    client = MlflowClient(args["uri"])
    exp = client.create_experiment("bench-history")
    run_id = client.create_run(exp, run_name="history").info.run_id
    for i in range(0, len(values), BATCH):
        chunk = values[i : i + BATCH]
        metrics = [Metric("loss", float(v), args["t0"] + i + j, i + j) for j, v in enumerate(chunk)]
        client.log_batch(run_id, metrics=metrics)
    for _ in range(args["warmup"]):
        client.get_metric_history(run_id, "loss")
    times = []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        hist = client.get_metric_history(run_id, "loss")
        times.append(time.perf_counter() - start)
    by_step = sorted(hist, key=lambda m: m.step)
    return {
        "times_s": times,
        "length": len(hist),
        "steps_ok": [m.step for m in by_step] == list(range(len(values))),
        "values_ok": bool(np.allclose([m.value for m in by_step], values)) if len(by_step) == len(values) else False,
    }


def main() -> None:
    phase, args_path, out_path = sys.argv[1:4]
    with open(args_path) as f:
        args = json.load(f)
    with np.load(args["data"]) as npz:
        data = {k: npz[k] for k in npz.files}
    result = globals()[phase](args, data)
    if "times_s" in result:
        result["median_s"] = statistics.median(result["times_s"])
    result["python"] = sys.version.split()[0]
    result["mlflow"] = mlflow.__version__
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
