"""Tracking benchmark: treadle's server against an MLflow tracking server, both on SQLite.

    .venv/bin/python bench/tracking.py            # full run (~5-10 minutes on 2 cores)
    .venv/bin/python bench/tracking.py --quick    # smoke run (~1-2 minutes)

Both servers run side by side on free loopback ports under one temporary directory; each
client runs in its own interpreter (treadle's SDK in .venv, MLflow's in .bench-venv, created
here with a pinned mlflow when missing) through bench/_tracking_treadle.py and
bench/_tracking_mlflow.py. Both get the same data (numpy seed 0). Every answer is checked
against what was written (point counts, sums, match counts, result order); any mismatch
aborts. Results are printed as a table and written to bench/out/tracking.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    BENCH,
    SIDES,
    BenchError,
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

T0 = 1_700_000_000_000  # timestamps (ms) of logged points: T0 + step

FILTER = "metrics.m0 > 0.5 and params.p1 = 'v3'"
ORDER_BY = ["metrics.m1 DESC"]


@dataclass(frozen=True)
class Sizes:
    steps: int  # ingest: 5 metrics x steps points
    mlflow_loop_points: int  # MLflow's per-point loop is timed on the first N points only
    loop_repeats: int
    batch_repeats: int
    runs: int  # search: runs x (10 params, 5 metrics)
    max_results: int
    search_repeats: int
    history_steps: int
    history_repeats: int


FULL = Sizes(2000, 1000, 3, 5, 2000, 100, 15, 10_000, 7)
QUICK = Sizes(200, 200, 2, 2, 200, 20, 5, 1000, 3)


def make_data(path: Path, sizes: Sizes) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    data = {
        "ingest_values": rng.random((5, sizes.steps)),
        "ingest_params": rng.integers(0, 1_000_000, 20),
        "search_params": rng.integers(0, 10, (sizes.runs, 10)),
        "search_metrics": rng.random((sizes.runs, 5)),
        "history_values": rng.random(sizes.history_steps),
    }
    np.savez(path, **data)  # type: ignore[arg-type]
    return data


# ---------------------------------------------------------------------------------------- checking
def check_ingest(side: str, calls: list[dict], values: np.ndarray) -> None:
    for i, chk in enumerate(c["check"] for c in calls):
        for k in range(values.shape[0]):
            key, n, total = f"m{k}", values.shape[1], values[k].sum()
            if chk["lengths"][key] != n:
                raise BenchError(f"{side}: repeat {i}, {key} has {chk['lengths'][key]} points, expected {n}")
            if not np.isclose(chk["sums"][key], total):
                raise BenchError(f"{side}: repeat {i}, {key} values sum to {chk['sums'][key]}, expected {total}")


def expected_search(data: dict[str, np.ndarray], max_results: int) -> tuple[int, list[str]]:
    p, m = data["search_params"], data["search_metrics"]
    match = np.flatnonzero((m[:, 0] > 0.5) & (p[:, 1] == 3))
    ordered = match[np.argsort(-m[match, 1], kind="stable")]
    return len(match), [f"run-{i:05d}" for i in ordered[:max_results]]


# -------------------------------------------------------------------------------------------- main


def _keep(results: dict[str, dict], phase: str, summary: dict[str, dict]) -> None:
    for side in SIDES:
        results[side][phase] = summary[side]


def batch_phase(
    w: dict[str, Any], sizes: Any, data: dict[str, np.ndarray], results: dict[str, dict], title: str
) -> None:
    """Points through batch calls of 1,000, repeats alternating sides; checked against the data."""
    print(title, flush=True)
    raw = interleaved(
        w, "ingest_batch", sizes.batch_repeats, 600, lambda side, rep: {"steps": sizes.steps, "rep": rep, "t0": T0}
    )
    for side in SIDES:
        check_ingest(side, raw[side], data["ingest_values"][:, : sizes.steps])
    _keep(results, "ingest_batch", summarise("ingest_batch", raw))


def search_phase(
    w: dict[str, Any], sizes: Any, data: dict[str, np.ndarray], results: dict[str, dict], title: str
) -> None:
    """Populate ``sizes.runs`` runs, then time one filtered, ordered page; every answer is checked."""
    print(title, flush=True)
    for side in SIDES:
        took = w[side].call("populate_search", 1500, runs=sizes.runs, t0=T0)["seconds"]
        results[side]["populate_search_s"] = took
        print(f"  {side:8s} populated in {took:.1f}s", flush=True)
    n_match, page = expected_search(data, sizes.max_results)
    query = {"filter": FILTER, "order_by": ORDER_BY}
    for side in SIDES:
        every = w[side].call("search", 300, **query, max_results=sizes.runs)["names"]
        if len(every) != n_match:
            raise BenchError(f"{side}: search matched {len(every)} runs, expected {n_match}")
    sargs = lambda side, rep: {**query, "max_results": sizes.max_results}  # noqa: E731
    interleaved(w, "search", 2, 300, sargs)  # warm-up
    raw = interleaved(w, "search", sizes.search_repeats, 300, sargs)
    for side in SIDES:
        for c in raw[side]:
            if c["names"] != page:
                raise BenchError(f"{side}: search returned {c['names'][:5]}..., expected {page[:5]}...")
    _keep(results, "search", summarise("search", raw))
    for side in SIDES:
        results[side]["search"]["matches"] = n_match
        results[side]["search"].pop("names")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(ap, BENCH / "out" / "tracking.json")
    opts = ap.parse_args()
    sizes = QUICK if opts.quick else FULL
    return run_in_tmp(opts, "treadle-bench-tracking-", lambda tmp: bench(opts, sizes, tmp))


def bench(opts: argparse.Namespace, sizes: Sizes, tmp: Path) -> int:
    data_path = tmp / "data.npz"
    data = make_data(data_path, sizes)
    load_start = os.getloadavg()
    loop_steps = {"treadle": sizes.steps, "mlflow": max(1, sizes.mlflow_loop_points // 5)}
    results: dict[str, dict] = {"treadle": {}, "mlflow": {}}
    started = time.monotonic()
    with servers(tmp, opts.mlflow_workers, opts.mlflow_jobs) as uris, workers(data_path, uris, tmp) as w:
        clients = {side: w[side].call("facts", 300) for side in SIDES}

        def keep(phase: str, summary: dict[str, dict]) -> dict[str, dict]:
            for side in SIDES:
                results[side][phase] = summary[side]
            return summary

        print(
            f"[1/4] per-point log_metric loop: treadle {5 * loop_steps['treadle']} points, "
            f"MLflow first {5 * loop_steps['mlflow']} points",
            flush=True,
        )
        raw = interleaved(
            w, "ingest_loop", sizes.loop_repeats, 600, lambda side, rep: {"steps": loop_steps[side], "rep": rep}
        )
        for side in SIDES:
            check_ingest(side, raw[side], data["ingest_values"][:, : loop_steps[side]])
        keep("ingest_loop", summarise("ingest_loop", raw))

        batch_phase(w, sizes, data, results, f"[2/4] batch ingest: {5 * sizes.steps} points in batches of 1000")
        search_phase(w, sizes, data, results, f"[3/4] search_runs over {sizes.runs} runs x (10 params, 5 metrics)")

        print(f"[4/4] metric history of a {sizes.history_steps}-step metric", flush=True)
        run_ids = {
            side: w[side].call("history_setup", 600, steps=sizes.history_steps, t0=T0)["run_id"] for side in SIDES
        }
        hargs = lambda side, rep: {"run_id": run_ids[side], "steps": sizes.history_steps}  # noqa: E731
        interleaved(w, "history", 1, 300, hargs)  # warm-up
        raw = interleaved(w, "history", sizes.history_repeats, 300, hargs)
        for side in SIDES:
            for c in raw[side]:
                if c["length"] != sizes.history_steps or not c["steps_ok"] or not c["values_ok"]:
                    raise BenchError(
                        f"{side}: history has {c['length']} points (steps ok: {c['steps_ok']}, "
                        f"values ok: {c['values_ok']}), expected {sizes.history_steps}"
                    )
        keep("history", summarise("history", raw))
    elapsed = time.monotonic() - started

    tr, ml = results["treadle"], results["mlflow"]
    rows = []

    def rate(res: dict) -> float:
        return float(res["points"] / res["median_s"])

    for name, phase, target in (
        ("per-point log_metric loop", "ingest_loop", 50.0),
        ("batch log_batch", "ingest_batch", 3.0),
    ):
        a, b = rate(tr[phase]), rate(ml[phase])
        rows.append((name, "points/s", a, b, a / b, target))
    for name, phase, target in (("search_runs", "search", 5.0), ("get_metric_history", "history", 5.0)):
        a, b = tr[phase]["median_s"] * 1000, ml[phase]["median_s"] * 1000
        rows.append((name, "ms", a, b, b / a, target))

    facts = machine_facts(opts, clients, load_start, sizes)
    print_header(facts, opts, elapsed)
    all_met = print_table(rows)
    print()
    print("ratio = treadle's advantage (points/s treadle / MLflow; ms MLflow / treadle). Notes:")
    print(
        f"- loop: treadle times {tr['ingest_loop']['points']} points (td.log_metric loop + td.flush()); "
        f"MLflow's synchronous mlflow.log_metric loop is timed on the first {ml['ingest_loop']['points']} "
        "points only (same order: step-major, 5 metrics per step); points/s is computed on those."
    )
    print(
        "- batch: 1000 points per call on both sides (MLflow's per-request limit), building the metric objects "
        "included."
    )
    print(
        f"- search: filter {FILTER!r}, order_by {ORDER_BY}, max_results={sizes.max_results}; "
        f"{results['treadle']['search']['matches']} runs match on both sides, same order."
    )
    print("- repeats alternate between the two systems (treadle first, then MLflow first, ...) so that other load on")
    print("  the machine slows both alike; see the load average above and each repeat's time above the table.")
    print(f"- history: full series ({sizes.history_steps} points), no downsampling, same points on both sides.")

    write_results(opts.out, facts, rows, results)
    if opts.quick:
        print("quick run: sizes and repeats too small to judge the targets; the verdicts above are indicative only.")
        return 0
    return 0 if all_met else 1


if __name__ == "__main__":
    cli_main(main)
