"""treadle side of bench/tracking.py; runs inside treadle's own .venv.

Usage: python _tracking_treadle.py PHASE ARGS.json OUT.json. Each phase times the public treadle
SDK against a running treadle server and writes its timings and what it read back as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("TREADLE_CAPTURE_ENVIRONMENT", "false")  # not part of what is timed; keeps setup short

import treadle as td

METRICS = ("m0", "m1", "m2", "m3", "m4")
BATCH = 1000  # the same batch size as MLflow's limit, so both sides make the same number of calls


def _points(values: np.ndarray, t0: int) -> list[tuple[str, float, int, int]]:
    """(key, value, step, timestamp), step-major: step 0 of m0..m4, then step 1, ..."""
    keys, steps = values.shape
    return [(METRICS[k], float(values[k, s]), s, t0 + s) for s in range(steps) for k in range(keys)]


def _history_check(client: td.Client, run_id: str, values: np.ndarray) -> dict[str, object]:
    lengths, sums = {}, {}
    for k in range(values.shape[0]):
        series = client.tracking.get_metric_history(run_id, METRICS[k])
        lengths[METRICS[k]] = len(series.steps)
        sums[METRICS[k]] = float(sum(series.values))
    return {"lengths": lengths, "sums": sums}


def ingest_loop(args: dict, data: dict) -> dict:
    values = data["ingest_values"][:, : args["steps"]]
    params = {f"p{i}": str(v) for i, v in enumerate(data["ingest_params"])}
    client = td.set_uri(args["uri"])
    td.set_experiment("bench-ingest-loop")
    times, checks = [], []
    for rep in range(args["repeats"]):
        with td.start_run(name=f"loop-{rep}") as run:
            td.log_params(params)
            start = time.perf_counter()
            for s in range(values.shape[1]):
                for k in range(values.shape[0]):
                    td.log_metric(METRICS[k], float(values[k, s]), step=s)
            td.flush()
            times.append(time.perf_counter() - start)
        checks.append(_history_check(client, run.id, values))
    return {"times_s": times, "points": int(values.size), "checks": checks}


def ingest_batch(args: dict, data: dict) -> dict:
    values = data["ingest_values"][:, : args["steps"]]
    params = {f"p{i}": str(v) for i, v in enumerate(data["ingest_params"])}
    client = td.Client(args["uri"])
    exp = client.tracking.create_experiment("bench-ingest-batch")
    points = _points(values, args["t0"])
    times, checks = [], []
    for rep in range(args["repeats"]):
        run_id = client.tracking.create_run(exp.id, name=f"batch-{rep}").id
        client.log_batch(run_id, params=params)
        start = time.perf_counter()
        for i in range(0, len(points), BATCH):
            metrics = [td.Metric(key=k, value=v, step=s, timestamp=ts) for k, v, s, ts in points[i : i + BATCH]]
            client.log_batch(run_id, metrics=metrics)
        times.append(time.perf_counter() - start)
        client.tracking.end_run(run_id)
        checks.append(_history_check(client, run_id, values))
    return {"times_s": times, "points": len(points), "checks": checks}


def populate_search(args: dict, data: dict) -> dict:
    pvals, mvals = data["search_params"][: args["runs"]], data["search_metrics"][: args["runs"]]
    client = td.Client(args["uri"])
    exp = client.tracking.create_experiment("bench-search")
    start = time.perf_counter()
    for i in range(len(pvals)):
        run_id = client.tracking.create_run(exp.id, name=f"run-{i:05d}", start_time=args["t0"] + i).id
        client.log_batch(
            run_id,
            metrics=[
                td.Metric(key=METRICS[k], value=float(mvals[i, k]), step=0, timestamp=args["t0"])
                for k in range(mvals.shape[1])
            ],
            params={f"p{j}": f"v{int(pvals[i, j])}" for j in range(pvals.shape[1])},
        )
    return {"experiment_id": exp.id, "seconds": time.perf_counter() - start}


def search(args: dict, data: dict) -> dict:
    client = td.Client(args["uri"])

    def once(max_results: int) -> list[str]:
        page = client.tracking.search_runs(
            experiment_ids=[args["experiment_id"]], filter=args["filter"], order_by=args["order_by"],
            max_results=max_results,
        )
        return [r.name for r in page.runs]

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
    client = td.Client(args["uri"])
    exp = client.tracking.create_experiment("bench-history")
    run_id = client.tracking.create_run(exp.id, name="history").id
    for i in range(0, len(values), BATCH):
        client.log_batch(
            run_id,
            metrics=[
                td.Metric(key="loss", value=float(v), step=i + j, timestamp=args["t0"] + i + j)
                for j, v in enumerate(values[i : i + BATCH])
            ],
        )
    for _ in range(args["warmup"]):
        client.tracking.get_metric_history(run_id, "loss")
    times = []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        series = client.tracking.get_metric_history(run_id, "loss")
        times.append(time.perf_counter() - start)
    return {
        "times_s": times,
        "length": len(series.steps),
        "downsampled": series.downsampled,
        "steps_ok": list(series.steps) == list(range(len(values))),
        "values_ok": bool(np.allclose(series.values, values)) if len(series.values) == len(values) else False,
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
    result["treadle"] = td.__version__
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
