"""What bench/serving.py prints: the machine, every load point, the in-process floors, the ratios."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from _common import Row, print_table

WHAT = {
    "mlflow": "mlflow models serve",
    "treadle": "treadle serve",
    "treadle-oip": "treadle serve, OIP /v2/.../infer",
    "rf-unbatched": "treadle serve RF200, unbatched",
    "rf-batched": "treadle serve RF200, batched",
}


def describe(label: str) -> str:
    base, _, w = label.rpartition("-w")
    if base in WHAT:
        return f"{WHAT[base]}, --workers {w}" + (" (inline)" if w == "0" else "")
    return WHAT.get(label, label)


def print_points(facts: dict[str, Any], points: dict[str, dict[str, Any]], floors: dict[str, float]) -> None:
    print()
    print(f"machine: {facts['cpus']} CPUs, {facts['platform']}; the load generator runs on the same CPUs")
    print(
        f"treadle {facts['treadle']} (Python {facts['treadle_python']}, scikit-learn {facts['treadle_sklearn']}); "
        f"MLflow {facts['mlflow']} (Python {facts['mlflow_python']}, scikit-learn {facts['mlflow_sklearn']}, "
        "--env-manager local)"
    )
    print(
        "load average (1, 5, 15 min) at start {:.1f} {:.1f} {:.1f}, at end {:.1f} {:.1f} {:.1f}".format(
            *facts["load_average_start"], *facts["load_average_end"]
        )
    )
    s = facts["sizes"]
    print(f"each point: {s['warmup_s']:g} s warm-up, {s['duration_s']:g} s measured; {facts['elapsed_s']:.0f}s in all")
    print()
    header = (
        f"{'server':48s} {'conc':>4s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s} "
        f"{'srv CPU ms/req':>14s} {'gen CPU ms/req':>14s}"
    )
    print(header)
    print("-" * len(header))
    for label, p in points.items():
        print(
            f"{describe(label):48s} {p['concurrency']:4d} {p['requests_per_s']:8.1f} {p['p50_ms']:8.2f} "
            f"{p['p99_ms']:8.2f} {p['errors']:6d} {p['server_cpu_ms_per_request']:14.2f} "
            f"{p['client_cpu_ms_per_request']:14.3f}"
        )
    print()
    print("server CPU by process, ms per answered request (the process started first, then its descendants;")
    print("  MLflow: the `mlflow models serve` CLI, bash/uvicorn; treadle: uvicorn with the router, then workers):")
    for label, p in points.items():
        answered = max(p["requests"] + p["warmup_requests"] + p["late"], 1)
        per = [sec / answered * 1000 for sec in p.get("server_cpu_by_process_s", {}).values()]
        children = ", ".join(f"{v:.2f}" for v in per[1:]) or "-"
        print(f"  {describe(label):48s} first {per[0] if per else 0:.2f}; descendants: {children}")
    print()
    print("in-process floor, one-row predict (median):")
    names = {
        "sklearn_lr": "LogisticRegression.predict (treadle's venv)",
        "treadle_lr": "td.load_model(...).predict",
        "mlflow_sklearn_lr": "LogisticRegression.predict (MLflow's venv)",
        "mlflow_pyfunc_lr": "mlflow.pyfunc.load_model(...).predict",
        "sklearn_rf": "RandomForest(200).predict",
        "treadle_rf": "td.load_model(RF200).predict",
        "treadle_rf_32_rows": "td.load_model(RF200).predict, 32 rows",
    }
    for key, seconds in floors.items():
        print(f"  {names.get(key, key):48s} {seconds * 1000:8.3f} ms  (= {1 / seconds:8.0f} calls/s on one core)")
    print()


def print_summary(rows: Sequence[Row]) -> bool:
    """The ratios; whether every row with a target met it. "anchor" is MLflow, except for the
    batching rows, where it is treadle's own unbatched server."""
    all_met = print_table(rows, anchor="anchor", width=42)
    print("(anchor: MLflow for the LR rows; treadle unbatched for the RF200 rows. Latency ratios: anchor/treadle.)")
    return all_met
