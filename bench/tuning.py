"""Tuning benchmark: tracked treadle trials vs Optuna's own storages, and parallel speed-up.

1. 200 TPE trials of a cheap objective (two floats): treadle (``td.tune`` on a SQLite store, each
   trial a nested tracked run, study state in treadle's journal) vs Optuna 5.0 with its SQLite RDB
   storage vs Optuna in memory, interleaved, in this interpreter. Target: treadle >= 5x Optuna
   SQLite in trials/s.
2. An objective burning 0.2 s of CPU: ``parallelism=2`` worker processes vs 1. Target: >= 1.7x.

    .venv/bin/python bench/tuning.py [--trials 200] [--repeats 3] [--burn-trials 16]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import optuna

SPACE = {"x": (-5.0, 5.0), "y": (-5.0, 5.0)}


def cheap(params: dict[str, float]) -> float:
    return (params["x"] - 1.0) ** 2 + params["y"] ** 2


def cheap_trial(trial: optuna.Trial) -> float:
    return cheap({"x": trial.suggest_float("x", -5.0, 5.0), "y": trial.suggest_float("y", -5.0, 5.0)})


def burn(params: dict[str, float]) -> float:
    end = time.process_time() + 0.2
    x = 0.0
    while time.process_time() < end:
        x += 1.0
    return cheap(params)


def run_treadle(
    trials: int, tmp: Path, parallelism: int = 1, objective: Callable[..., float] = cheap
) -> tuple[float, float]:
    """Trials/s end to end, and in steady state (between the first and the last trial to finish,
    so without the one-time start of worker processes)."""
    from treadle.client import Client
    from treadle.tuning import tune

    client = Client(f"sqlite:///{tmp}/treadle.db", str(tmp / "artifacts"))
    client.tracking.list_experiments()  # open (and migrate) the store outside the timing
    start = time.perf_counter()
    study = tune(objective, SPACE, n_trials=trials, seed=0, client=client, parallelism=parallelism)
    elapsed = time.perf_counter() - start
    assert len(study.trials) == trials, len(study.trials)
    runs = client.search_runs(filter="tags.`treadle.trial.study` != ''", max_results=trials + 1)
    assert len(runs.runs) == trials, f"expected {trials} tracked trial runs, found {len(runs.runs)}"
    ends = sorted(t.datetime_complete.timestamp() for t in study.trials if t.datetime_complete)
    return trials / elapsed, (len(ends) - 1) / (ends[-1] - ends[0])


def run_optuna(trials: int, storage: str | None) -> float:
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0))
    start = time.perf_counter()
    study.optimize(cheap_trial, n_trials=trials)
    return trials / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--burn-trials", type=int, default=40)
    parser.add_argument("--skip-parallel", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("treadle").setLevel(logging.ERROR)
    print(f"optuna {optuna.__version__}, {os.cpu_count()} CPUs, {args.trials} TPE trials, {args.repeats} repeats")
    rates: dict[str, list[float]] = {"treadle (SQLite, tracked)": [], "optuna RDB SQLite": [], "optuna in memory": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            rates["treadle (SQLite, tracked)"].append(run_treadle(args.trials, Path(tmp))[0])
            rates["optuna RDB SQLite"].append(run_optuna(args.trials, f"sqlite:///{tmp}/optuna.db"))
            rates["optuna in memory"].append(run_optuna(args.trials, None))
    med = {k: statistics.median(v) for k, v in rates.items()}
    for name, value in med.items():
        print(f"  {name:28s} {value:8.1f} trials/s   (runs: {', '.join(f'{r:.1f}' for r in rates[name])})")
    ratio = med["treadle (SQLite, tracked)"] / med["optuna RDB SQLite"]
    print(f"  treadle / optuna SQLite = {ratio:.1f}x (target >= 5x)")
    if args.skip_parallel:
        return
    print(f"\n0.2 s CPU objective, {args.burn_trials} trials, worker processes")
    with tempfile.TemporaryDirectory() as tmp1, tempfile.TemporaryDirectory() as tmp2:
        one, one_steady = run_treadle(args.burn_trials, Path(tmp1), 1, burn)
        two, two_steady = run_treadle(args.burn_trials, Path(tmp2), 2, burn)
    print(f"  end to end:   parallelism=1 {one:5.2f} trials/s, 2 {two:5.2f} trials/s, speed-up {two / one:.2f}x")
    print(
        f"  steady state: parallelism=1 {one_steady:5.2f} trials/s, 2 {two_steady:5.2f} trials/s, "
        f"speed-up {two_steady / one_steady:.2f}x (target >= 1.7x; end to end includes ~2 s of worker start)"
    )


if __name__ == "__main__":
    main()
