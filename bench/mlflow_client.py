"""The mlflow client against treadle's MLflow-compatible API and against `mlflow server`, both on SQLite.

    .venv/bin/python bench/mlflow_client.py            # full run (~3-5 minutes on 2 cores)
    .venv/bin/python bench/mlflow_client.py --quick    # smoke run (~1 minute)

The SAME client code (mlflow 3.17.2 in .bench-venv, bench/_tracking_mlflow.py) runs twice, once with
its tracking URI on `treadle server` (which answers ``/api/2.0/mlflow/...`` from its own store) and
once on `mlflow server`; both servers run side by side on free loopback ports under one temporary
directory, as in bench/tracking.py. Measured: synchronous per-point ``mlflow.log_metric``,
``MlflowClient().log_batch`` with 1,000 points a call, and ``search_runs`` (filter + order_by + a
page of results) over runs x (10 params, 5 metrics). Every answer is checked against what was
written (point counts and sums, match counts, result order); any mismatch aborts. Repeats alternate
between the two servers; medians. Results: a table, and bench/out/mlflow_client.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    BENCH,
    MLFLOW_PY,
    SIDES,
    add_common_options,
    cli_main,
    interleaved,
    machine_facts,
    print_header,
    print_table,
    run_in_tmp,
    servers,
    summarise,
    workers,
    write_results,
)
from tracking import FILTER, ORDER_BY, batch_phase, check_ingest, make_data, search_phase

TARGET = 3.0  # treadle >= 3x on each figure
CLIENT = (MLFLOW_PY, "_tracking_mlflow.py")  # the same mlflow client script on both sides


@dataclass(frozen=True)
class Sizes:
    loop_steps: int  # per-point loop: 5 metrics x loop_steps points, one HTTP request each
    loop_repeats: int
    steps: int  # batch: 5 metrics x steps points, 1,000 a log_batch call
    batch_repeats: int
    runs: int  # search: runs x (10 params, 5 metrics)
    max_results: int
    search_repeats: int
    # make_data's other sizes (tracking.py's history phase is not run here)
    history_steps: int = 1


FULL = Sizes(loop_steps=200, loop_repeats=3, steps=2000, batch_repeats=5, runs=2000, max_results=100, search_repeats=15)
QUICK = Sizes(loop_steps=40, loop_repeats=2, steps=400, batch_repeats=2, runs=200, max_results=20, search_repeats=5)


def treadle_version() -> str:
    try:
        import treadle

        return str(getattr(treadle, "__version__", "?"))
    except ImportError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(ap, BENCH / "out" / "mlflow_client.json")
    ap.add_argument("--loop-steps", type=int, help="per-point loop: steps of 5 metrics (full: 200)")
    ap.add_argument("--steps", type=int, help="batch: steps of 5 metrics (full: 2000)")
    ap.add_argument("--runs", type=int, help="search: runs to search over (full: 2000)")
    ap.add_argument("--repeats", type=int, help="repeats of every phase (full: 3 loop, 5 batch, 15 search)")
    opts = ap.parse_args()
    sizes = QUICK if opts.quick else FULL
    for field, value in (("loop_steps", opts.loop_steps), ("steps", opts.steps), ("runs", opts.runs)):
        if value:
            sizes = replace(sizes, **{field: value})
    if opts.repeats:
        sizes = replace(sizes, loop_repeats=opts.repeats, batch_repeats=opts.repeats, search_repeats=opts.repeats)
    return run_in_tmp(opts, "treadle-bench-mlflow-client-", lambda tmp: bench(opts, sizes, tmp))


def bench(opts: argparse.Namespace, sizes: Sizes, tmp: Path) -> int:
    data_path = tmp / "data.npz"
    # tracking.py's data (numpy seed 0): ingest_values, ingest_params, search_params, search_metrics
    data = make_data(data_path, sizes)  # type: ignore[arg-type]
    load_start = os.getloadavg()
    results: dict[str, dict] = {"treadle": {}, "mlflow": {}}
    started = time.monotonic()
    with (
        servers(tmp, opts.mlflow_workers, opts.mlflow_jobs) as uris,
        workers(data_path, uris, tmp, "mlflow_client", CLIENT) as w,
    ):
        clients = {side: w[side].call("facts", 300) for side in SIDES}

        def keep(phase: str, summary: dict[str, dict]) -> None:
            for side in SIDES:
                results[side][phase] = summary[side]

        print(f"[1/3] mlflow.log_metric per point (synchronous): {5 * sizes.loop_steps} points a repeat", flush=True)
        interleaved(w, "ingest_loop", 1, 600, lambda side, rep: {"steps": 5, "rep": -1})  # warm-up
        raw = interleaved(
            w, "ingest_loop", sizes.loop_repeats, 600, lambda side, rep: {"steps": sizes.loop_steps, "rep": rep}
        )
        for side in SIDES:
            check_ingest(side, raw[side], data["ingest_values"][:, : sizes.loop_steps])
        keep("ingest_loop", summarise("ingest_loop", raw))

        batch_phase(
            w, sizes, data, results, f"[2/3] MlflowClient().log_batch: {5 * sizes.steps} points in calls of 1,000"
        )
        search_phase(w, sizes, data, results, f"[3/3] search_runs over {sizes.runs} runs x (10 params, 5 metrics)")
    elapsed = time.monotonic() - started

    tr, ml = results["treadle"], results["mlflow"]
    rows = []
    for name, phase in (("mlflow.log_metric per point", "ingest_loop"), ("log_batch (1,000 a call)", "ingest_batch")):
        a, b = tr[phase]["points"] / tr[phase]["median_s"], ml[phase]["points"] / ml[phase]["median_s"]
        rows.append((name, "points/s", float(a), float(b), float(a / b), TARGET))
    a, b = tr["search"]["median_s"] * 1000, ml["search"]["median_s"] * 1000
    rows.append(("search_runs", "ms", a, b, b / a, TARGET))

    facts = machine_facts(opts, clients, load_start, sizes)
    facts["treadle"] = f"{treadle_version()} (MLflow-compatible API; client mlflow {clients['treadle']['version']})"
    facts["treadle_python"] = clients["treadle"]["python"]
    print_header(facts, opts, elapsed)
    all_met = print_table(rows)
    print()
    print("ratio = treadle's advantage (points/s treadle / MLflow; ms MLflow / treadle). Both columns are the SAME")
    version = clients["mlflow"]["version"]
    print(f"mlflow {version} client code (bench/_tracking_mlflow.py); only the tracking URI differs.")
    print(
        f"- per point: synchronous mlflow.log_metric, one request a point, {5 * sizes.loop_steps} points a repeat "
        "(step-major, 5 metrics a step) in a run that has 20 params."
    )
    print("- batch: 1,000 metrics a log_batch call (MLflow's per-request limit), building the Metric objects included.")
    print(
        f"- search: filter {FILTER!r}, order_by {ORDER_BY}, max_results={sizes.max_results}; "
        f"{tr['search']['matches']} runs match on both sides, same order."
    )
    print("- repeats alternate between the two servers (treadle first, then MLflow first, ...).")

    write_results(opts.out, facts, rows, results)
    if opts.quick:
        print("quick run: sizes and repeats too small to judge the targets; the verdicts above are indicative only.")
        return 0
    return 0 if all_met else 1


if __name__ == "__main__":
    cli_main(main)
