"""Registry benchmark: treadle's model registry against MLflow's, both servers on SQLite.

    .venv/bin/python bench/registry.py            # full run (about 1 minute on 2 cores)
    .venv/bin/python bench/registry.py --quick    # smoke run (about 30 s)

The same scikit-learn model (LogisticRegression on load_iris, rows shuffled with numpy seed 0) is
logged once into a run on each side, then:

1. ``register_model`` from that run's model, timed; each repeat registers the next version of one
   name (treadle: ``td.register_model(runs:/...)``; MLflow: ``mlflow.register_model(runs:/...)``).
2. load by alias, ``models:/<name>@champion``, timed from the call until a predictor is ready
   (resolve the alias, fetch the files, load). treadle twice: warm (its content-addressed cache
   reused, as a serving process reloading sees it) and cold (``TREADLE_CACHE`` a new empty folder
   for each load, so every file is downloaded and verified); MLflow (``mlflow.pyfunc.load_model``)
   has no cache and downloads every time. Predictions are made once per load, outside the timer.

Every answer is checked: version numbers 1, 2, 3... in order on both sides, the alias resolving to the
last one, and every load's labels and probabilities equal to the original model's (fitted here too).
Servers, workers and the temporary directory are always cleaned up. Results are printed as a table and
written to bench/out/registry.json.
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
    Row,
    Worker,
    add_common_options,
    cli_main,
    machine_facts,
    print_header,
    print_table,
    run_in_tmp,
    servers,
    summarise,
    workers,
    write_results,
)

NAME = "bench-iris"
NAME_CLIENT = "bench-iris-client"  # MLflow's low-level create_model_version, for comparison
TARGET = 3.0  # treadle at least 3x faster (MLflow's median / treadle's), on register and on a cold load


@dataclass(frozen=True)
class Sizes:
    register_warmup: int
    register_repeats: int
    load_warmup: int
    load_repeats: int


FULL = Sizes(3, 25, 3, 25)
QUICK = Sizes(1, 3, 1, 3)


def make_data(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Iris, rows shuffled (seed 0); and what the model fitted on it predicts (the reference)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    np.savez(path, x=x, y=y)
    model = LogisticRegression(max_iter=1000, random_state=0).fit(x, y)
    return x, y, {"labels": model.predict(x), "proba": model.predict_proba(x)}


def check_predictions(who: str, answer: dict[str, Any], expected: dict[str, np.ndarray]) -> float:
    """Raise unless ``answer``'s labels equal the reference's and its probabilities match; the
    largest probability difference."""
    labels, proba = np.asarray(answer["labels"]), np.asarray(answer["proba"])
    if not answer["same_as_original"]:
        raise BenchError(f"{who}: predictions differ from the model it logged")
    if labels.shape != expected["labels"].shape or not np.array_equal(labels, expected["labels"]):
        raise BenchError(f"{who}: labels {labels[:10].tolist()}... differ from {expected['labels'][:10].tolist()}...")
    if proba.shape != expected["proba"].shape or not np.allclose(proba, expected["proba"], rtol=0, atol=1e-12):
        raise BenchError(f"{who}: predict_proba differs from the reference model's")
    return float(np.max(np.abs(proba - expected["proba"])))


Lane = tuple[str, str, str, dict[str, Any]]  # label, side, op, args


def lanes(w: dict[str, Worker], spec: tuple[Lane, ...], repeats: int, timeout: float) -> dict[str, list[dict]]:
    """``repeats`` rounds of one call per lane, in ``spec``'s order, then reversed, and so on."""
    out: dict[str, list[dict]] = {label: [] for label, _, _, _ in spec}
    for rep in range(repeats):
        for label, side, op, args in spec if rep % 2 == 0 else spec[::-1]:
            out[label].append(w[side].call(op, timeout, **args))
    return out


def strip(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("labels", "proba")}


# -------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(ap, BENCH / "out" / "registry.json")
    opts = ap.parse_args()
    sizes = QUICK if opts.quick else FULL
    return run_in_tmp(opts, "treadle-bench-registry-", lambda tmp: bench(opts, sizes, tmp))


def bench(opts: argparse.Namespace, sizes: Sizes, tmp: Path) -> int:
    data_path = tmp / "data.npz"
    x, _, expected = make_data(data_path)
    load_start = os.getloadavg()
    results: dict[str, dict] = {"treadle": {}, "mlflow": {}}
    started = time.monotonic()
    with servers(tmp, opts.mlflow_workers, opts.mlflow_jobs) as uris, workers(data_path, uris, tmp, "registry") as w:
        clients = {side: w[side].call("facts", 300) for side in SIDES}
        if clients["treadle"]["sklearn"] != clients["mlflow"]["sklearn"]:
            print(
                f"[setup] note: scikit-learn {clients['treadle']['sklearn']} (treadle) and "
                f"{clients['mlflow']['sklearn']} (MLflow) differ",
                flush=True,
            )
        for side in SIDES:
            check_predictions(f"{side} original model", w[side].call("original", 120), expected)

        print(f"[setup] logging the model ({len(x)} rows x {x.shape[1]} features, LogisticRegression)", flush=True)
        uris_logged = {}
        for side in SIDES:
            logged = w[side].call("log", 300)
            uris_logged[side] = logged["uri"]
            results[side]["log_model_s"] = logged["seconds"]
            print(f"  {side:8s} log_model took {logged['seconds'] * 1000:.0f} ms -> {logged['uri']}", flush=True)

        total = sizes.register_warmup + sizes.register_repeats
        print(
            f"[1/2] register_model from the run's model: {sizes.register_warmup} warm-up + "
            f"{sizes.register_repeats} timed versions of {NAME!r} each (and MLflow's create_model_version alone)",
            flush=True,
        )
        register: tuple[Lane, ...] = (
            ("treadle", "treadle", "register", {"uri": uris_logged["treadle"], "name": NAME}),
            ("mlflow", "mlflow", "register", {"uri": uris_logged["mlflow"], "name": NAME}),
            ("mlflow_client", "mlflow", "register_client", {"name": NAME_CLIENT}),
        )
        warm = lanes(w, register, sizes.register_warmup, 120)
        raw = lanes(w, register, sizes.register_repeats, 120)
        for label in raw:
            versions = [c["version"] for c in warm[label] + raw[label]]
            if versions != list(range(1, total + 1)):
                raise BenchError(f"{label}: registered versions {versions}, expected 1..{total} in order")
        summary = summarise("register", {side: raw[side] for side in SIDES})
        summary["mlflow_client"] = summarise("create_version", {"mlflow": raw["mlflow_client"]})["mlflow"]
        for side, label in (("treadle", "treadle"), ("mlflow", "mlflow"), ("mlflow", "mlflow_client")):
            phase = "register" if label in SIDES else "create_model_version"
            results[side][phase] = {**summary[label], "versions": [c["version"] for c in raw[label]]}

        for side in SIDES:
            got = w[side].call("set_alias", 120, name=NAME, version=total)["version"]
            if got != total:
                raise BenchError(f"{side}: alias champion resolves to version {got}, expected {total}")

        print(
            f"[2/2] load models:/{NAME}@champion (version {total}): {sizes.load_warmup} warm-up + "
            f"{sizes.load_repeats} timed loads each of treadle warm, treadle cold, MLflow",
            flush=True,
        )
        load: tuple[Lane, ...] = (
            ("treadle_warm", "treadle", "load", {"name": NAME, "mode": "warm"}),
            ("treadle_cold", "treadle", "load", {"name": NAME, "mode": "cold"}),
            ("mlflow", "mlflow", "load", {"name": NAME, "mode": "cold"}),
        )
        lanes(w, load, sizes.load_warmup, 300)  # the first warm one fills treadle's warm cache
        raw = lanes(w, load, sizes.load_repeats, 300)
        max_diff = 0.0
        for lane, calls in raw.items():
            for i, c in enumerate(calls):
                max_diff = max(max_diff, check_predictions(f"{lane} load {i}", c, expected))
                if lane.startswith("treadle") and not c["from_cache_dir"]:
                    raise BenchError(f"{lane} load {i}: the model was not loaded from TREADLE_CACHE")
                if lane == "treadle_cold" and not c["files_downloaded"]:
                    raise BenchError(f"{lane} load {i}: nothing was downloaded into the empty cache")
        results["treadle"]["load_warm"] = strip(summarise("load_warm", {"treadle": raw["treadle_warm"]})["treadle"])
        results["treadle"]["load_cold"] = strip(summarise("load_cold", {"treadle": raw["treadle_cold"]})["treadle"])
        results["mlflow"]["load"] = strip(summarise("load", {"mlflow": raw["mlflow"]})["mlflow"])
        results["predictions"] = {"rows": len(x), "max_abs_proba_diff": max_diff}
    elapsed = time.monotonic() - started

    tr, mlr = results["treadle"], results["mlflow"]

    def row(name: str, treadle: dict, mlflow: dict, target: float | None) -> Row:
        a, b = treadle["median_s"] * 1000, mlflow["median_s"] * 1000
        return (name, "ms", a, b, b / a, target)

    rows = [
        row("register_model", tr["register"], mlr["register"], TARGET),
        row("  vs create_model_version", tr["register"], mlr["create_model_version"], None),
        row("load by alias, cold cache", tr["load_cold"], mlr["load"], TARGET),
        row("load by alias, warm cache", tr["load_warm"], mlr["load"], None),
    ]

    facts = machine_facts(opts, clients, load_start, sizes)
    facts["sklearn"] = {side: clients[side]["sklearn"] for side in SIDES}
    print_header(facts, opts, elapsed)
    all_met = print_table(rows)
    print()
    print("ratio = treadle's advantage (median ms MLflow / treadle); the load target is judged on the cold row.")
    print(
        f"- model: scikit-learn {clients['treadle']['sklearn']} LogisticRegression on iris ({len(x)} rows), "
        "pickled with cloudpickle on both sides."
    )
    print(
        "- register: td.register_model('runs:/<run>/model', name) against mlflow.register_model(same), one new "
        f"version per call; versions 1..{sizes.register_warmup + sizes.register_repeats} in order on both sides."
    )
    print(
        "  'vs create_model_version': MlflowClient.create_model_version(name, 'models:/m-...') alone, the name "
        "created beforehand:"
    )
    print("  MLflow's fewest round trips for a registration, shown for information.")
    print(
        f"- load: td.load_model / mlflow.pyfunc.load_model('models:/{NAME}@champion') until the predictor is "
        "ready; predict once outside the timer."
    )
    print(
        "  cold: TREADLE_CACHE is a new empty folder for each load (every file downloaded and verified); "
        "warm: the cache kept"
    )
    print("  (alias and file list still asked of the server, files re-hashed). MLflow downloads every time.")
    print(
        f"- predictions: labels equal and predict_proba within {max_diff:.1e} of the original model, on every "
        f"load, {len(x)} rows."
    )
    print("- repeats alternate between the systems (treadle first, then MLflow first, ...) so that other load on")
    print("  the machine slows both alike; see the load average above and each repeat's time above the table.")

    write_results(opts.out, facts, rows, results)
    if opts.quick:
        print("quick run: repeats too few to judge the targets; the verdicts above are indicative only.")
        return 0
    return 0 if all_met else 1


if __name__ == "__main__":
    cli_main(main)
