"""Drift benchmark: ``td.monitoring.drift`` against Evidently 0.7's ``DataDriftPreset``.

Reference and current frames of N rows x (20 numeric + 5 categorical) columns (numpy seed 0; the
current frame shifts 7 numeric and 2 categorical columns), written once as Parquet. treadle runs in
this interpreter (.venv); Evidently runs in its own venv (``.bench-venv-evidently``, created once)
as a subprocess that reads the same Parquet files. Neither side's timer includes reading the files
or importing the library (each does one small warm-up run first). Targets: treadle >= 20x faster
than Evidently at every size, and the 1M-row report under 10 s.

    .venv/bin/python bench/drift.py                      # 100k and 1M rows (Evidently ~2-3 min at 1M)
    .venv/bin/python bench/drift.py --rows 100000 --skip-anchor
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, BenchError, cli_main, ensure_venv

EVIDENTLY_VENV = ROOT / ".bench-venv-evidently"
EVIDENTLY_VERSION = "0.7.23"
EVIDENTLY_PINS = ("pandas<3",)  # evidently 0.7.23 imports pandas internals that pandas 3 removed
NUMERIC, CATEGORICAL = 20, 5
SHIFTED = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "c0", "c1"]

EVIDENTLY_SIDE = textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref, cur, out = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2]), sys.argv[3]
    Report([DataDriftPreset()]).run(cur.head(2000), ref.head(2000))  # warm-up: imports, registries
    start = time.perf_counter()
    result = Report([DataDriftPreset()]).run(cur, ref)
    elapsed = time.perf_counter() - start
    columns = {}
    for m in result.dict()["metrics"]:
        cfg = m["config"]
        if cfg.get("type", "").endswith("ValueDrift"):
            method, threshold, value = cfg["method"], cfg["threshold"], m["value"]
            p_value = "p_value" in method
            drifted = value < threshold if p_value else value >= threshold
            columns[cfg["column"]] = {
                "method": method, "value": float(value), "threshold": threshold, "drifted": bool(drifted)
            }
    json.dump({"time_s": elapsed, "version": evidently.__version__, "columns": columns}, open(out, "w"))
    """
)

# Evidently's method names -> treadle's test names (to compare statistics where both ran the same test)
METHODS = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
}


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; the current one shifts the columns in SHIFTED."""
    rng = np.random.default_rng(seed)

    def numeric(i: int, shifted: bool) -> np.ndarray:
        kind = i % 5
        shift = 0.0
        if shifted:
            shift = 0.3 if i < 5 else 0.0
        if kind == 0:
            x = rng.normal(shift, 1.0, rows)
        elif kind == 1:
            x = rng.lognormal(shift, 0.5, rows)
        elif kind == 2:
            x = rng.uniform(shift, 1 + shift, rows)
        elif kind == 3:
            x = rng.exponential(1.0 + shift, rows)
        else:
            x = rng.poisson(20 * (1 + shift), rows).astype(np.float64)  # many repeated values
        if shifted and i == 5:
            x = x * 1.5  # a change of scale, same centre
        if shifted and i == 6:
            x = np.where(rng.random(rows) < 0.2, x + 3.0, x)  # a bump in 20% of the rows
        return x

    def categorical(i: int, shifted: bool) -> np.ndarray:
        k = [3, 5, 8, 12, 30][i]
        p = np.linspace(1.0, 3.0, k)
        if shifted and i < 2:
            p = p[::-1]
        return rng.choice([f"v{j}" for j in range(k)], rows, p=p / p.sum())

    frames = []
    for shifted in (False, True):
        cols: dict[str, np.ndarray] = {}
        for i in range(NUMERIC):
            cols[f"n{i}"] = numeric(i, shifted)
        for i in range(CATEGORICAL):
            cols[f"c{i}"] = categorical(i, shifted)
        frames.append(pd.DataFrame(cols))
    return frames[0], frames[1]


def run_treadle(ref: pd.DataFrame, cur: pd.DataFrame, repeats: int) -> dict[str, Any]:
    """``drift(ref, cur)`` with the reference frame (exact), then against its stored profile (what a
    monitor does: the profile is computed once, each window only prepares the current data)."""
    from treadle.monitoring import Profile, drift, profile

    drift(ref.head(2000), cur.head(2000))  # warm-up: imports, thread pool
    times, report = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        report = drift(ref, cur)
        times.append(time.perf_counter() - start)
    assert report is not None
    start = time.perf_counter()
    stored = Profile.from_bytes(profile(ref).to_bytes())
    profile_s = time.perf_counter() - start
    from_profile = []
    for _ in range(repeats):
        start = time.perf_counter()
        by_profile = drift(stored, cur)
        from_profile.append(time.perf_counter() - start)
    if by_profile.drifted_columns != report.drifted_columns:
        raise BenchError(f"drift from the profile found {by_profile.drifted_columns}, not {report.drifted_columns}")
    columns = {
        c: {"test": d.test, "statistic": d.statistic, "p_value": d.p_value, "drifted": d.drifted}
        for c, d in report.columns.items()
    }
    return {
        "times_s": times,
        "time_s": statistics.median(times),
        "profile_s": profile_s,
        "from_profile_s": statistics.median(from_profile),
        "columns": columns,
    }


def run_evidently(ref_path: Path, cur_path: Path, tmp: Path) -> dict[str, Any]:
    script, out = tmp / "evidently_side.py", tmp / "evidently.json"
    script.write_text(EVIDENTLY_SIDE)
    proc = subprocess.run(
        [str(EVIDENTLY_VENV / "bin" / "python"), str(script), str(ref_path), str(cur_path), str(out)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"Evidently failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def ensure_evidently(version: str) -> None:
    ensure_venv(EVIDENTLY_VENV, "evidently", version, EVIDENTLY_PINS)
    python = str(EVIDENTLY_VENV / "bin" / "python")
    probe = subprocess.run([python, "-c", "import evidently.presets"], capture_output=True, timeout=300, check=False)
    if probe.returncode != 0:  # created before the pins: add them
        subprocess.run([python, "-m", "pip", "install", "-q", *EVIDENTLY_PINS], check=True, timeout=1800)


def compare(treadle: dict[str, Any], evidently: dict[str, Any]) -> dict[str, Any]:
    """Drifted columns each found, and the largest statistic difference where both ran the same test."""
    t_drifted = sorted(c for c, d in treadle["columns"].items() if d["drifted"])
    e_drifted = sorted(c for c, d in evidently["columns"].items() if d["drifted"])
    same_test, diffs = 0, []
    for c, e in evidently["columns"].items():
        t = treadle["columns"].get(c)
        if t and METHODS.get(e["method"]) == t["test"]:
            same_test += 1
            mine = t["p_value"] if t["p_value"] is not None else t["statistic"]
            diffs.append(abs(mine - e["value"]))
    return {
        "treadle_drifted": t_drifted,
        "evidently_drifted": e_drifted,
        "agree": t_drifted == e_drifted,
        "same_test_columns": same_test,
        "max_statistic_difference": max(diffs) if diffs else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="100000,1000000", help="comma-separated sizes (rows of each frame)")
    ap.add_argument("--repeats", type=int, default=5, help="treadle repeats per size (median reported)")
    ap.add_argument("--skip-anchor", action="store_true", help="treadle only (no Evidently)")
    ap.add_argument("--evidently-version", default=EVIDENTLY_VERSION)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (Parquet files)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "drift.json"))
    opts = ap.parse_args()
    sizes = [int(s) for s in opts.rows.split(",")]
    if not opts.skip_anchor:
        ensure_evidently(opts.evidently_version)
    tmp = Path(tempfile.mkdtemp(prefix="treadle-bench-drift-"))
    load_start, results = os.getloadavg(), []
    try:
        for rows in sizes:
            ref, cur = make_data(rows)
            ref_path, cur_path = tmp / f"ref-{rows}.parquet", tmp / f"cur-{rows}.parquet"
            ref.to_parquet(ref_path)
            cur.to_parquet(cur_path)
            ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)  # what Evidently gets, too
            print(f"[{rows:,} rows] treadle ...", flush=True)
            t = run_treadle(ref, cur, opts.repeats)
            print(f"  treadle   median {t['time_s']:.3f} s  (each: {', '.join(f'{x:.3f}' for x in t['times_s'])})")
            print(f"  treadle   profile once {t['profile_s']:.3f} s, then drift from it {t['from_profile_s']:.3f} s")
            row: dict[str, Any] = {"rows": rows, "treadle": t}
            if not opts.skip_anchor:
                print(f"[{rows:,} rows] Evidently {opts.evidently_version} ...", flush=True)
                e = run_evidently(ref_path, cur_path, tmp)
                print(f"  evidently {e['time_s']:.3f} s")
                row.update(evidently=e, comparison=compare(t, e), ratio=e["time_s"] / t["time_s"])
            results.append(row)
    finally:
        if opts.keep:
            print(f"[kept] {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return report(results, opts, load_start)


def report(results: list[dict[str, Any]], opts: argparse.Namespace, load_start: tuple[float, ...]) -> int:
    print()
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}; load average {load_start} -> {os.getloadavg()}")
    print(f"data: {NUMERIC} numeric + {CATEGORICAL} categorical columns; shifted in current: {', '.join(SHIFTED)}")
    print()
    print(
        f"| rows | treadle (s) | Evidently {opts.evidently_version} (s) | ratio | target | met "
        "| treadle from a stored profile (s) |"
    )
    print("|---:|---:|---:|---:|---|---|---:|")
    failed = False
    for r in results:
        t = r["treadle"]["time_s"]
        e = r.get("evidently", {}).get("time_s")
        ratio = r.get("ratio")
        ok = (ratio is None or ratio >= 20) and (r["rows"] < 1_000_000 or t < 10)
        failed |= not ok
        target = ">= 20x" + (", < 10 s" if r["rows"] >= 1_000_000 else "")
        print(
            f"| {r['rows']:,} | {t:.3f} | {'' if e is None else f'{e:.1f}'} | "
            f"{'' if ratio is None else f'{ratio:.0f}x'} | {target} | {'yes' if ok else 'NO'} "
            f"| {r['treadle']['from_profile_s']:.3f} |"
        )
    for r in results:
        cmp = r.get("comparison")
        drifted = [c for c, d in r["treadle"]["columns"].items() if d["drifted"]]
        print(f"\n{r['rows']:,} rows: treadle found drift in {drifted}")
        if cmp:
            print(f"{r['rows']:,} rows: Evidently found drift in {cmp['evidently_drifted']}")
            print(
                f"  same verdicts: {cmp['agree']}; same test on {cmp['same_test_columns']} columns, "
                f"largest statistic difference {cmp['max_statistic_difference']:.2e}"
            )
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": results, "load_average_start": load_start}, indent=1, default=str))
    print(f"\nresults: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    cli_main(main)
