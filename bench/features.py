"""Feature-store benchmark: treadle's feature store against Feast 0.67's, on the same data.

    .venv/bin/python bench/features.py                 # full run (about 1-2 minutes on 2 cores)
    .venv/bin/python bench/features.py --quick         # smoke run of every phase (about 20 s)
    .venv/bin/python bench/features.py --scale-check   # then treadle's PIT join at 1M x 10M, peak RSS
    .venv/bin/python bench/features.py --only scale    # the scale check alone

The data (bench/_features_data.py, numpy seed 0) are generated once into a temporary folder: a
history of 10,000 drivers x 100 hourly observations = 1M rows x 10 float features with UTC event
timestamps (Parquet), an entity frame of 100,000 random (driver, time) rows, and the driver ids of
the online lookups. Each side is a long-lived worker in its own interpreter (bench/_worker.py's
line protocol): Feast in ``.bench-feast`` (bench/_features_feast.py; local provider, file offline
store, SQLite online store), treadle in ``.venv`` (bench/_features_treadle.py; FileSource, embedded
SQLite online store). Both measure, each phase alone, taking turns (who goes first alternates from
one round or repeat to the next, so that a busy machine slows both alike):

1. materialize the 1M rows into an empty online store (seconds);
2. in-process online lookups of the 10 features for 1 and for 100 entities (p50 and p99);
3. the point-in-time join of the 100,000 entity rows over the 1M history (seconds, median).

Every answer is checked against numpy's reference (bench/_features_data.py:reference): per feature
the sum and the count of non-null values of the PIT join, and the sum of every value the online
lookups returned. A mismatch stops the run with ``BENCHMARK FAILED`` (exit code 2); a missed target in
a full run exits with 1. ``--scale-check`` then generates 100,000 drivers x 100 = 10M history rows and
1M entity rows and runs treadle's PIT join alone, checking its answer and its peak RSS (at most
24 GiB). Results go to bench/out/features.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _features_data as fdata
from _common import BENCH, ROOT, TREADLE_PY, BenchError, Worker, cli_main, ensure_venv

FEAST_VENV = ROOT / ".bench-feast"
FEAST_PY = FEAST_VENV / "bin" / "python"
FEAST_VERSION = "0.67.0"
# What Feast 0.67.0 resolved to when this benchmark was written, pinned so that later runs measure the
# same Feast (its offline store is Dask over pandas and pyarrow, its online path protobuf).
FEAST_PINS = (
    "dask==2026.8.0",
    "pandas==2.3.3",
    "numpy==2.4.6",
    "pyarrow==26.0.1",
    "protobuf==7.36.2",
    "SQLAlchemy==2.1.9",
)
SCALE = 10  # the scale check: 10x the drivers (10M history rows) and the entity rows (1M)
RSS_LIMIT = 24 * 2**30
TARGETS = {"online_one": 10.0, "online_hundred": 10.0, "pit": 10.0, "materialize": 5.0}
REL_TOL = 1e-9


# ------------------------------------------------------------------------------------------- setup
def ensure_feast_venv(version: str) -> None:
    """Create .bench-feast with feast==version (and the pins) unless it already has that version."""
    ensure_venv(FEAST_VENV, "feast", version, FEAST_PINS if version == FEAST_VERSION else ())


class SideWorker(Worker):
    """One side's long-lived worker: ``bench/_features_<side>.py DATA WORKDIR`` in its own venv,
    speaking bench/_worker.py's line protocol (:meth:`Worker.call`)."""

    def __init__(self, side: str, data: Path, tmp: Path) -> None:
        py = TREADLE_PY if side == "treadle" else FEAST_PY
        self.side, self.tmp, self.calls, self.buf = side, tmp, 0, b""
        self.log = tmp / f"{side}-worker.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TREADLE_", "FEAST_"))}
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [str(py), str(BENCH / f"_features_{side}.py"), str(data), str(tmp)],
                cwd=tmp,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )


@contextlib.contextmanager
def side_workers(data: Path, tmp: Path, sides: Sequence[str]) -> Iterator[dict[str, SideWorker]]:
    started: dict[str, SideWorker] = {}
    try:
        for side in sides:
            started[side] = SideWorker(side, data, tmp)
        yield started
    finally:
        for w in started.values():
            w.stop()


def in_turns(sides: Sequence[str], rep: int) -> Sequence[str]:
    """The sides in the order of repeat ``rep``: who goes first alternates."""
    return sides if rep % 2 == 0 else sides[::-1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


def measure(w: dict[str, SideWorker], sizes: fdata.Sizes, pit_repeats: int, rounds: int) -> dict[str, dict]:
    """Every phase on every side, repeats alternating; per side the figures and the answers."""
    sides = list(w)
    res: dict[str, dict[str, Any]] = {side: {} for side in sides}
    for side in sides:
        res[side].update(w[side].call("setup", 600))
    for side in sides:  # one full materialization each, into an empty online store
        out = w[side].call("materialize", 1800)
        res[side]["materialize_s"], res[side]["materialize"] = out["time_s"], out
        print(f"  {side:8s} materialize  {out['time_s']:8.2f} s", flush=True)
    for which, timed in (("one", sizes.lookups_one), ("hundred", sizes.lookups_hundred)):
        for side in sides:
            w[side].call("online", 600, which=which, start=0, stop=sizes.warmup)
        calls: dict[str, list[dict]] = {side: [] for side in sides}
        bounds = [sizes.warmup + timed * r // rounds for r in range(rounds + 1)]
        for r in range(rounds):
            for side in in_turns(sides, r):
                calls[side].append(w[side].call("online", 600, which=which, start=bounds[r], stop=bounds[r + 1]))
        for side in sides:
            lat = [x for c in calls[side] for x in c["latencies_s"]]
            res[side][f"online_{which}"] = {
                "lookups": len(lat),
                "p50_ms": percentile(lat, 50) * 1000,
                "p99_ms": percentile(lat, 99) * 1000,
                "mean_ms": sum(lat) / len(lat) * 1000,
                "max_ms": max(lat) * 1000,
                "sums": {f: sum(c["sums"][f] for c in calls[side]) for f in fdata.FEATURES},
                "missing": sum(c["missing"] for c in calls[side]),
            }
            o = res[side][f"online_{which}"]
            print(f"  {side:8s} online {which:7s} p50 {o['p50_ms']:8.3f} ms  p99 {o['p99_ms']:8.3f} ms", flush=True)
    pits: dict[str, list[dict]] = {side: [] for side in sides}
    for rep in range(pit_repeats):
        for side in in_turns(sides, rep):
            pits[side].append(w[side].call("pit", 3600))
    for side in sides:
        times = [p["time_s"] for p in pits[side]]
        res[side]["pit"] = {**pits[side][-1], "times_s": times, "median_s": statistics.median(times)}
        print(
            f"  {side:8s} PIT join     median {statistics.median(times):6.2f} s  (each: "
            f"{', '.join(f'{t:.2f}' for t in times)})",
            flush=True,
        )
        res[side].update(w[side].call("stats", 60))
    return res


# ------------------------------------------------------------------------------------------ checks
def close(a: float, b: float) -> bool:
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def check(side: str, result: dict[str, Any], ref: dict[str, Any]) -> None:
    """Raise BenchError when ``side``'s answers differ from the reference."""
    problems: list[str] = []
    if "pit" in result:
        rows, matched = result["pit"]["rows"], ref["pit"]["f0"]["count"]
        if side == "feast" and rows == matched:
            # Feast's file offline store drops the entity rows that have no earlier feature row
            # instead of keeping them with nulls (a left join); noted, not held against it.
            result["pit"]["dropped_rows"] = ref["pit_rows"] - rows
        elif rows != ref["pit_rows"]:
            problems.append(f"PIT join returned {rows} rows, expected {ref['pit_rows']} (one per entity row)")
        for f, want in ref["pit"].items():
            got = result["pit"]["check"][f]
            if got["count"] != want["count"] or not close(got["sum"], want["sum"]):
                problems.append(f"PIT {f}: sum {got['sum']!r} over {got['count']} values, expected {want!r}")
    for phase in ("online_one", "online_hundred"):
        if phase in result:
            if result[phase]["missing"]:
                problems.append(f"{phase}: {result[phase]['missing']} values missing after a full materialization")
            for f, want in ref[phase].items():
                if not close(result[phase]["sums"][f], want):
                    problems.append(f"{phase} {f}: sum {result[phase]['sums'][f]!r}, expected {want!r}")
    if problems:
        raise BenchError(f"{side} answered wrongly:\n  " + "\n  ".join(problems[:20]))
    print(f"[check] {side}: every answer matches numpy's reference", flush=True)


# ------------------------------------------------------------------------------------------ report
def fmt(v: float, unit: str) -> str:
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:,.1f} {unit}" if v >= 10 else f"{v:.3g} {unit}"


Row = tuple[str, str, float, float, float | None]  # name, unit, treadle, Feast, target (lower is better)


def rows_of(t: dict[str, Any], f: dict[str, Any], sizes: fdata.Sizes) -> list[Row]:
    hist, ents = f"{sizes.history_rows:,}", f"{sizes.entity_rows:,}"
    return [
        ("online p99, 1 entity", "ms", t["online_one"]["p99_ms"], f["online_one"]["p99_ms"], TARGETS["online_one"]),
        ("online p50, 1 entity", "ms", t["online_one"]["p50_ms"], f["online_one"]["p50_ms"], None),
        (
            "online p99, 100 entities",
            "ms",
            t["online_hundred"]["p99_ms"],
            f["online_hundred"]["p99_ms"],
            TARGETS["online_hundred"],
        ),
        ("online p50, 100 entities", "ms", t["online_hundred"]["p50_ms"], f["online_hundred"]["p50_ms"], None),
        (f"PIT join {ents} x {hist}", "s", t["pit"]["median_s"], f["pit"]["median_s"], TARGETS["pit"]),
        (f"materialize {hist} rows", "s", t["materialize_s"], f["materialize_s"], TARGETS["materialize"]),
    ]


def print_table(rows: list[Row]) -> bool:
    """The table (ratio = Feast's figure / treadle's: how many times lower treadle's is); whether
    every row with a target met it."""
    header = f"{'figure':32s} {'treadle':>12s} {'Feast':>12s} {'ratio':>8s} {'target':>8s}  met"
    print(header)
    print("-" * len(header))
    all_met = True
    for name, unit, a, b, target in rows:
        ratio = b / a if a > 0 else float("inf")
        if target is None:
            print(f"{name:32s} {fmt(a, unit):>12s} {fmt(b, unit):>12s} {ratio:7.1f}x {'-':>8s}  (info)")
            continue
        met = ratio >= target
        all_met &= met
        print(
            f"{name:32s} {fmt(a, unit):>12s} {fmt(b, unit):>12s} {ratio:7.1f}x {target:7.0f}x  {'yes' if met else 'NO'}"
        )
    return all_met


# ------------------------------------------------------------------------------------------ phases
def compare(opts: argparse.Namespace, tmp: Path, report: dict[str, Any]) -> bool:
    sizes = fdata.QUICK if opts.quick else fdata.FULL
    data = tmp / "data"
    t0 = time.monotonic()
    report["data"] = fdata.generate(data, sizes)
    ref = fdata.reference(data)
    print(
        f"[data] {sizes.history_rows:,} history rows, {sizes.entity_rows:,} entity rows in {time.monotonic() - t0:.1f}s"
    )
    repeats = opts.pit_repeats or (1 if opts.quick else 3)
    rounds = 2 if opts.quick else 4
    with side_workers(data, tmp, opts.sides) as w:
        results = measure(w, sizes, repeats, rounds)
    for side in opts.sides:
        check(side, results[side], ref)
    report["results"] = results
    if set(opts.sides) != {"treadle", "feast"}:
        print("(one side only: no table)")
        return True
    t, f = results["treadle"], results["feast"]
    print()
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"treadle {t['version']} (Python {t['python']}), FileSource over Parquet, SQLite online store")
    print(
        f"Feast {f['version']} (Python {f['python']}), local provider, file (Dask) offline store, SQLite online store"
    )
    la = report["load_average_start"] + list(os.getloadavg())
    print("load average (1, 5, 15 min) at start {:.1f} {:.1f} {:.1f}, at end {:.1f} {:.1f} {:.1f}".format(*la))
    print(
        f"{'quick' if opts.quick else 'full'} run; PIT join: median of {repeats}; online: "
        f"{sizes.lookups_one:,} / {sizes.lookups_hundred:,} timed lookups after {sizes.warmup} warm-up, "
        f"in {rounds} alternating rounds"
    )
    print()
    rows = rows_of(t, f, sizes)
    met = print_table(rows)
    report["table"] = [dict(zip(("figure", "unit", "treadle", "feast", "target"), r, strict=True)) for r in rows]
    return met


def scale_check(opts: argparse.Namespace, tmp: Path, report: dict[str, Any]) -> bool:
    sizes = fdata.scaled(SCALE)
    data = tmp / "data-scale"
    t0 = time.monotonic()
    fdata.generate(data, sizes)
    ref = fdata.reference(data)
    print(
        f"[scale] {sizes.history_rows:,} history rows, {sizes.entity_rows:,} entity rows "
        f"in {time.monotonic() - t0:.1f}s"
    )
    with side_workers(data, tmp, ["treadle"]) as w:
        result = w["treadle"].call("setup", 600)
        out = w["treadle"].call("pit", 3600)
        result["pit"] = {**out, "times_s": [out["time_s"]], "median_s": out["time_s"]}
        result.update(w["treadle"].call("stats", 60))
    check("treadle", result, ref)
    rss = result["peak_rss_bytes"]
    ok = rss <= RSS_LIMIT
    report["scale_check"] = {"sizes": sizes.__dict__, "result": result, "within_limit": ok}
    print()
    print(
        f"scale check: treadle PIT join of {sizes.entity_rows:,} entity rows over {sizes.history_rows:,} history rows"
    )
    print(
        f"  time {result['pit']['median_s']:.1f} s, peak RSS {rss / 2**30:.2f} GiB "
        f"(limit {RSS_LIMIT / 2**30:.0f} GiB): {'yes' if ok else 'NO'}"
    )
    shutil.rmtree(data, ignore_errors=True)
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every phase")
    ap.add_argument("--scale-check", action="store_true", help="also treadle's PIT join at 1M x 10M (peak RSS)")
    ap.add_argument("--only", choices=("compare", "scale"), help="run only the comparison or only the scale check")
    ap.add_argument("--sides", default="feast,treadle", help="which sides to run (the table needs both)")
    ap.add_argument("--pit-repeats", type=int, default=0, help="PIT join repeats per side (default 3, quick 1)")
    ap.add_argument("--feast-version", default=FEAST_VERSION, help="feast pinned in .bench-feast")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs)")
    ap.add_argument("--out", default=str(BENCH / "out" / "features.json"), help="where to write the JSON results")
    opts = ap.parse_args()
    opts.sides = [s.strip() for s in opts.sides.split(",") if s.strip()]
    if unknown := set(opts.sides) - {"treadle", "feast"}:
        ap.error(f"unknown side(s) {sorted(unknown)}: use feast and/or treadle")
    do_compare = opts.only != "scale"
    do_scale = opts.only == "scale" or opts.scale_check
    if do_compare and "feast" in opts.sides:
        ensure_feast_venv(opts.feast_version)
    tmp = Path(tempfile.mkdtemp(prefix="bench-features-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report: dict[str, Any] = {"load_average_start": list(os.getloadavg()), "quick": opts.quick}
    met = True
    try:
        if do_compare:
            met &= compare(opts, tmp, report)
        if do_scale:
            met &= scale_check(opts, tmp, report)
    finally:
        report["load_average_end"] = list(os.getloadavg())
        out = Path(opts.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, default=str))
        print(f"results: {out}")
        if opts.keep:
            print(f"[kept] {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if opts.quick:
        return 0
    return 0 if met else 1


if __name__ == "__main__":
    cli_main(main)
