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
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TREADLE_PY = ROOT / ".venv" / "bin" / "python"
BENCH_VENV = ROOT / ".bench-venv"
MLFLOW_PY = BENCH_VENV / "bin" / "python"
MLFLOW_VERSION = "3.17.2"
T0 = 1_700_000_000_000  # timestamps (ms) of logged points: T0 + step

FILTER = "metrics.m0 > 0.5 and params.p1 = 'v3'"
ORDER_BY = ["metrics.m1 DESC"]


class BenchError(RuntimeError):
    """The benchmark could not run, or the two systems disagreed."""


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


# ------------------------------------------------------------------------------------------- setup
def ensure_bench_venv(version: str) -> None:
    """Create .bench-venv with mlflow==version unless it already has exactly that version."""
    if MLFLOW_PY.exists():
        found = subprocess.run(
            [str(MLFLOW_PY), "-c", "import mlflow; print(mlflow.__version__)"],
            capture_output=True, text=True, timeout=120, check=False,
        ).stdout.strip()
        if found == version:
            return
        print(f"[setup] .bench-venv has mlflow {found or 'none'}; installing mlflow=={version}", flush=True)
    else:
        print(f"[setup] creating {BENCH_VENV} with mlflow=={version} (a few minutes, once)", flush=True)
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True, timeout=300)
    subprocess.run(
        [str(MLFLOW_PY), "-m", "pip", "install", "-q", f"mlflow=={version}"], check=True, timeout=1800
    )


def make_data(path: Path, sizes: Sizes) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    data = {
        "ingest_values": rng.random((5, sizes.steps)),
        "ingest_params": rng.integers(0, 1_000_000, 20),
        "search_params": rng.integers(0, 10, (sizes.runs, 10)),
        "search_metrics": rng.random((sizes.runs, 5)),
        "history_values": rng.random(sizes.history_steps),
    }
    np.savez(path, **data)
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server process in its own session, so that stopping it stops its workers too."""

    def __init__(self, name: str, cmd: list[str], health: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.health = name, health
        self.log = cwd / f"{name}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **(env or {})},
            )

    def wait_ready(self, timeout: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.health, timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.25)
        raise BenchError(f"{self.name} server not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


@contextlib.contextmanager
def servers(tmp: Path, mlflow_workers: int, mlflow_jobs: bool) -> Iterator[dict[str, str]]:
    started: list[Server] = []
    try:
        tport, mport = free_port(), free_port()
        (tmp / "treadle-artifacts").mkdir()
        code = (
            "import treadle.server as s; "
            f"s.run_server(host='127.0.0.1', port={tport}, uri={'sqlite:///' + str(tmp / 'treadle.db')!r}, "
            f"artifacts={str(tmp / 'treadle-artifacts')!r})"
        )
        started.append(Server("treadle", [str(TREADLE_PY), "-c", code], f"http://127.0.0.1:{tport}/health", tmp))
        mcmd = [
            str(BENCH_VENV / "bin" / "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
            "--artifacts-destination", str(tmp / "mlflow-artifacts"),
            "--host", "127.0.0.1", "--port", str(mport),
            "--workers", str(mlflow_workers),
        ]
        # Job execution (huey consumers for GenAI scoring jobs) is no part of tracking; left on it
        # starts 7 more processes that import mlflow while the benchmark runs.
        menv = {} if mlflow_jobs else {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        started.append(Server("mlflow", mcmd, f"http://127.0.0.1:{mport}/health", tmp, menv))
        for s in started:
            print(f"[setup] {s.name} server ready in {s.wait_ready(240):.1f}s", flush=True)
        yield {"treadle": f"http://127.0.0.1:{tport}", "mlflow": f"http://127.0.0.1:{mport}"}
    finally:
        for s in started:
            s.stop()


def run_worker(side: str, phase: str, args: dict, tmp: Path, timeout: float) -> dict:
    py, script = (TREADLE_PY, "_tracking_treadle.py") if side == "treadle" else (MLFLOW_PY, "_tracking_mlflow.py")
    args_path, out_path = tmp / f"{side}-{phase}.args.json", tmp / f"{side}-{phase}.out.json"
    args_path.write_text(json.dumps(args))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("TREADLE_URI", None)
    try:
        proc = subprocess.run(
            [str(py), str(BENCH / script), phase, str(args_path), str(out_path)],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{side} {phase} did not finish in {timeout:.0f}s") from exc
    if proc.returncode != 0 or not out_path.exists():
        raise BenchError(f"{side} {phase} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    result: dict = json.loads(out_path.read_text())
    if "median_s" in result:
        print(f"  {side:8s} {phase:15s} median {result['median_s'] * 1000:10.1f} ms  "
              f"(runs: {', '.join(f'{t * 1000:.1f}' for t in result['times_s'])})", flush=True)
    return result


# ---------------------------------------------------------------------------------------- checking
def check_ingest(side: str, res: dict, values: np.ndarray) -> None:
    for i, chk in enumerate(res["checks"]):
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


# ------------------------------------------------------------------------------------------ report
def fmt(v: float, unit: str) -> str:
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:,.1f} {unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every phase")
    ap.add_argument("--mlflow-version", default=MLFLOW_VERSION, help="mlflow pinned in .bench-venv")
    ap.add_argument("--mlflow-workers", type=int, default=1,
                    help="mlflow server --workers (default 1, like treadle's server; MLflow's own default is 4, "
                    "which on uvicorn 0.54 stalls every keep-alive response by ~40 ms, see bench/README.md)")
    ap.add_argument("--mlflow-jobs", action="store_true",
                    help="leave MLflow's job execution (huey consumers) on, as `mlflow server` does by default")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, server logs)")
    ap.add_argument("--out", default=str(BENCH / "out" / "tracking.json"), help="where to write the JSON results")
    opts = ap.parse_args()
    sizes = QUICK if opts.quick else FULL

    ensure_bench_venv(opts.mlflow_version)
    tmp = Path(tempfile.mkdtemp(prefix="treadle-bench-tracking-"))
    # A SIGTERM (e.g. a timeout around this script) still stops the servers and removes tmp.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return bench(opts, sizes, tmp)
    finally:
        if opts.keep:
            print(f"[kept] {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(opts: argparse.Namespace, sizes: Sizes, tmp: Path) -> int:
    data_path = tmp / "data.npz"
    data = make_data(data_path, sizes)
    load_start = os.getloadavg()
    per_step = 5
    loop_steps_mlflow = max(1, sizes.mlflow_loop_points // per_step)
    results: dict[str, dict] = {"treadle": {}, "mlflow": {}}
    started = time.monotonic()
    with servers(tmp, opts.mlflow_workers, opts.mlflow_jobs) as uris:
        common = {"data": str(data_path), "t0": T0}

        def both(phase: str, args: dict, timeout: float, mlflow_args: dict | None = None) -> tuple[dict, dict]:
            t = run_worker("treadle", phase, {**common, "uri": uris["treadle"], **args}, tmp, timeout)
            margs = {**common, "uri": uris["mlflow"], **args, **(mlflow_args or {})}
            m = run_worker("mlflow", phase, margs, tmp, timeout)
            results["treadle"][phase], results["mlflow"][phase] = t, m
            return t, m

        print(f"[1/4] per-point log_metric loop: treadle {5 * sizes.steps} points, "
              f"MLflow first {per_step * loop_steps_mlflow} points", flush=True)
        t, m = both("ingest_loop", {"steps": sizes.steps, "repeats": sizes.loop_repeats}, 900,
                    {"steps": loop_steps_mlflow})
        check_ingest("treadle", t, data["ingest_values"][:, : sizes.steps])
        check_ingest("mlflow", m, data["ingest_values"][:, :loop_steps_mlflow])

        print(f"[2/4] batch ingest: {5 * sizes.steps} points in batches of 1000", flush=True)
        t, m = both("ingest_batch", {"steps": sizes.steps, "repeats": sizes.batch_repeats}, 900)
        check_ingest("treadle", t, data["ingest_values"][:, : sizes.steps])
        check_ingest("mlflow", m, data["ingest_values"][:, : sizes.steps])

        print(f"[3/4] search_runs over {sizes.runs} runs x (10 params, 5 metrics)", flush=True)
        t, m = both("populate_search", {"runs": sizes.runs}, 1200)
        print(f"  populated: treadle {t['seconds']:.1f}s, MLflow {m['seconds']:.1f}s", flush=True)
        search_args = {
            "runs": sizes.runs, "filter": FILTER, "order_by": ORDER_BY, "max_results": sizes.max_results,
            "warmup": 2, "repeats": sizes.search_repeats,
        }
        t, m = both("search", {**search_args, "experiment_id": t["experiment_id"]}, 600,
                    {"experiment_id": m["experiment_id"]})
        n_match, page = expected_search(data, sizes.max_results)
        for side, res in (("treadle", t), ("mlflow", m)):
            if res["matches"] != n_match:
                raise BenchError(f"{side}: search matched {res['matches']} runs, expected {n_match}")
            if res["page"] != page:
                raise BenchError(f"{side}: search returned {res['page'][:5]}..., expected {page[:5]}...")

        print(f"[4/4] metric history of a {sizes.history_steps}-step metric", flush=True)
        t, m = both("history", {"steps": sizes.history_steps, "warmup": 1, "repeats": sizes.history_repeats}, 900)
        for side, res in (("treadle", t), ("mlflow", m)):
            if res["length"] != sizes.history_steps or not res["steps_ok"] or not res["values_ok"]:
                raise BenchError(f"{side}: history has {res['length']} points (steps ok: {res['steps_ok']}, "
                                 f"values ok: {res['values_ok']}), expected {sizes.history_steps}")
    elapsed = time.monotonic() - started

    tr, ml = results["treadle"], results["mlflow"]
    rows = []

    def rate(res: dict) -> float:
        return float(res["points"] / res["median_s"])

    for name, phase, target in (("per-point log_metric loop", "ingest_loop", 50.0),
                                ("batch log_batch", "ingest_batch", 3.0)):
        a, b = rate(tr[phase]), rate(ml[phase])
        rows.append((name, "points/s", a, b, a / b, target))
    for name, phase, target in (("search_runs", "search", 5.0), ("get_metric_history", "history", 5.0)):
        a, b = tr[phase]["median_s"] * 1000, ml[phase]["median_s"] * 1000
        rows.append((name, "ms", a, b, b / a, target))

    facts = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "treadle_python": tr["history"]["python"],
        "mlflow_python": ml["history"]["python"],
        "treadle": tr["history"]["treadle"],
        "mlflow": ml["history"]["mlflow"],
        "mlflow_workers": opts.mlflow_workers,
        "mlflow_job_execution": opts.mlflow_jobs,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "treadle_workers": 1,
        "sizes": sizes.__dict__,
    }
    print()
    print(f"machine: {facts['cpus']} CPUs, {facts['platform']}")
    print(f"treadle {facts['treadle']} (Python {facts['treadle_python']}, server 1 uvicorn worker, SQLite)")
    print(f"MLflow {facts['mlflow']} (Python {facts['mlflow_python']}, `mlflow server --workers "
          f"{facts['mlflow_workers']}`, job execution {'on' if opts.mlflow_jobs else 'off'}, SQLite)")
    print("load average (1, 5, 15 min) at start {:.1f} {:.1f} {:.1f}, at end {:.1f} {:.1f} {:.1f}".format(
        *load_start, *facts["load_average_end"]))
    print(f"{'quick' if opts.quick else 'full'} run, medians; {elapsed:.0f}s of benchmarking")
    print()
    header = f"{'benchmark':28s} {'treadle':>16s} {'MLflow':>16s} {'ratio':>8s} {'target':>8s}  met"
    print(header)
    print("-" * len(header))
    all_met = True
    for name, unit, a, b, ratio, target in rows:
        met = ratio >= target
        all_met &= met
        verdict = "yes" if met else "NO"
        print(f"{name:28s} {fmt(a, unit):>16s} {fmt(b, unit):>16s} {ratio:7.1f}x {target:7.0f}x  {verdict}")
    print()
    print("ratio = treadle's advantage (points/s treadle / MLflow; ms MLflow / treadle). Notes:")
    print(f"- loop: treadle times {tr['ingest_loop']['points']} points (td.log_metric loop + td.flush()); "
          f"MLflow's synchronous mlflow.log_metric loop is timed on the first {ml['ingest_loop']['points']} "
          "points only (same order: step-major, 5 metrics per step) and its rate extrapolated.")
    print("- batch: 1000 points per call on both sides (MLflow's per-request limit), building the metric objects "
          "included.")
    print(f"- search: filter {FILTER!r}, order_by {ORDER_BY}, max_results={sizes.max_results}; "
          f"{results['treadle']['search']['matches']} runs match on both sides, same order.")
    print(f"- history: full series ({sizes.history_steps} points), no downsampling, same points on both sides.")

    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "facts": facts,
        "table": [dict(zip(("benchmark", "unit", "treadle", "mlflow", "ratio", "target"), r, strict=True))
                  for r in rows],
        "raw": results,
    }, indent=1, default=str))
    print(f"results: {out}")
    return 0 if all_met else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        sys.exit(2)
