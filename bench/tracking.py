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
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
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

SIDES = ("treadle", "mlflow")
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
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout.strip()
        if found == version:
            return
        print(f"[setup] .bench-venv has mlflow {found or 'none'}; installing mlflow=={version}", flush=True)
    else:
        print(f"[setup] creating {BENCH_VENV} with mlflow=={version} (a few minutes, once)", flush=True)
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True, timeout=300)
    subprocess.run([str(MLFLOW_PY), "-m", "pip", "install", "-q", f"mlflow=={version}"], check=True, timeout=1800)


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
                cmd,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
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


def treadle_server_cmd(tmp: Path, port: int) -> list[str]:
    """``treadle server`` (the CLI) when it works in .venv, else ``treadle.server.run_server`` directly."""
    uri, artifacts = f"sqlite:///{tmp / 'treadle.db'}", str(tmp / "treadle-artifacts")
    cli = ROOT / ".venv" / "bin" / "treadle"
    if cli.exists():
        probe = subprocess.run([str(cli), "server", "--help"], capture_output=True, timeout=120, check=False)
        if probe.returncode == 0:
            return [str(cli), "--uri", uri, "--artifacts", artifacts, "server", "--port", str(port)]
    code = (
        f"import treadle.server as s; s.run_server(host='127.0.0.1', port={port}, uri={uri!r}, artifacts={artifacts!r})"
    )
    return [str(TREADLE_PY), "-c", code]


@contextlib.contextmanager
def servers(tmp: Path, mlflow_workers: int, mlflow_jobs: bool) -> Iterator[dict[str, str]]:
    started: list[Server] = []
    try:
        tport, mport = free_port(), free_port()
        (tmp / "treadle-artifacts").mkdir()
        tcmd = treadle_server_cmd(tmp, tport)
        how = "the `treadle server` CLI" if tcmd[1] == "--uri" else "treadle.server.run_server"
        print(f"[setup] treadle server started through {how}", flush=True)
        started.append(Server("treadle", tcmd, f"http://127.0.0.1:{tport}/health", tmp))
        mcmd = [
            str(BENCH_VENV / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp / 'mlflow.db'}",
            "--artifacts-destination",
            str(tmp / "mlflow-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(mport),
            "--workers",
            str(mlflow_workers),
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


class Worker:
    """One client process (its own interpreter and SDK) that runs requests on demand.

    Requests go to its stdin as JSON lines; the answer is a JSON file, announced by a ``DONE``
    line on its stdout. Keeping both workers alive lets the two systems' repeats alternate, so
    that a busy neighbour on the machine slows both sides alike.
    """

    def __init__(self, side: str, data_path: Path, uri: str, tmp: Path) -> None:
        py, script = (TREADLE_PY, "_tracking_treadle.py") if side == "treadle" else (MLFLOW_PY, "_tracking_mlflow.py")
        self.side, self.tmp, self.calls, self.buf = side, tmp, 0, b""
        self.log = tmp / f"{side}-worker.log"
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "TREADLE_URI")}
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [str(py), str(BENCH / script), str(data_path), uri],
                cwd=tmp,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )

    def call(self, op: str, timeout: float, **args: object) -> dict:
        self.calls += 1
        out = self.tmp / f"{self.side}-{self.calls:04d}-{op}.json"
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps({"op": op, "args": args, "out": str(out)}) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise BenchError(f"{self.side} worker is gone:\n{self.tail()}") from None
        deadline, fd = time.monotonic() + timeout, self.proc.stdout.fileno()
        while b"DONE\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self.side} {op} did not finish in {timeout:.0f}s")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise BenchError(f"{self.side} worker died during {op} ({self.proc.wait(5)}):\n{self.tail()}")
                self.buf += chunk
        self.buf = self.buf.split(b"DONE\n", 1)[1]
        result: dict = json.loads(out.read_text())
        return result

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@contextlib.contextmanager
def workers(data_path: Path, uris: dict[str, str], tmp: Path) -> Iterator[dict[str, Worker]]:
    started: dict[str, Worker] = {}
    try:
        for side in SIDES:
            started[side] = Worker(side, data_path, uris[side], tmp)
        yield started
    finally:
        for w in started.values():
            w.stop()


def interleaved(
    w: dict[str, Worker], op: str, repeats: int, timeout: float, args: Callable[[str, int], dict]
) -> dict[str, list[dict]]:
    """``repeats`` calls of ``op`` on each side, alternating which side goes first."""
    out: dict[str, list[dict]] = {side: [] for side in SIDES}
    for rep in range(repeats):
        for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
            out[side].append(w[side].call(op, timeout, **args(side, rep)))
    return out


def summarise(phase: str, res: dict[str, list[dict]]) -> dict[str, dict]:
    """Per side: the times, their median, and the last answer's other fields."""
    summary = {}
    for side, calls in res.items():
        times = [c["time_s"] for c in calls]
        summary[side] = {**calls[-1], "times_s": times, "median_s": statistics.median(times)}
        print(
            f"  {side:8s} {phase:13s} median {summary[side]['median_s'] * 1000:10.1f} ms  "
            f"(each: {', '.join(f'{t * 1000:.1f}' for t in times)})",
            flush=True,
        )
    return summary


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


# ------------------------------------------------------------------------------------------ report
def fmt(v: float, unit: str) -> str:
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:,.1f} {unit}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every phase")
    ap.add_argument("--mlflow-version", default=MLFLOW_VERSION, help="mlflow pinned in .bench-venv")
    ap.add_argument(
        "--mlflow-workers",
        type=int,
        default=1,
        help="mlflow server --workers (default 1, like treadle's server; MLflow's own default is 4, "
        "which on uvicorn 0.54 stalls every keep-alive response by ~40 ms, see bench/README.md)",
    )
    ap.add_argument(
        "--mlflow-jobs",
        action="store_true",
        help="leave MLflow's job execution (huey consumers) on, as `mlflow server` does by default",
    )
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

        print(f"[2/4] batch ingest: {5 * sizes.steps} points in batches of 1000", flush=True)
        raw = interleaved(
            w, "ingest_batch", sizes.batch_repeats, 600, lambda side, rep: {"steps": sizes.steps, "rep": rep, "t0": T0}
        )
        for side in SIDES:
            check_ingest(side, raw[side], data["ingest_values"][:, : sizes.steps])
        keep("ingest_batch", summarise("ingest_batch", raw))

        print(f"[3/4] search_runs over {sizes.runs} runs x (10 params, 5 metrics)", flush=True)
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
        interleaved(w, "search", 2, 300, lambda side, rep: {**query, "max_results": sizes.max_results})  # warm-up
        raw = interleaved(
            w, "search", sizes.search_repeats, 300, lambda side, rep: {**query, "max_results": sizes.max_results}
        )
        for side in SIDES:
            for c in raw[side]:
                if c["names"] != page:
                    raise BenchError(f"{side}: search returned {c['names'][:5]}..., expected {page[:5]}...")
        keep("search", summarise("search", raw))
        for side in SIDES:
            results[side]["search"]["matches"] = n_match
            results[side]["search"].pop("names")

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

    facts = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "orchestrator_python": platform.python_version(),
        "treadle_python": clients["treadle"]["python"],
        "mlflow_python": clients["mlflow"]["python"],
        "treadle": clients["treadle"]["version"],
        "mlflow": clients["mlflow"]["version"],
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
    print(
        f"MLflow {facts['mlflow']} (Python {facts['mlflow_python']}, `mlflow server --workers "
        f"{facts['mlflow_workers']}`, job execution {'on' if opts.mlflow_jobs else 'off'}, SQLite)"
    )
    print(
        "load average (1, 5, 15 min) at start {:.1f} {:.1f} {:.1f}, at end {:.1f} {:.1f} {:.1f}".format(
            *load_start, *facts["load_average_end"]
        )
    )
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

    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "facts": facts,
                "table": [
                    dict(zip(("benchmark", "unit", "treadle", "mlflow", "ratio", "target"), r, strict=True))
                    for r in rows
                ],
                "raw": results,
            },
            indent=1,
            default=str,
        )
    )
    print(f"results: {out}")
    if opts.quick:
        print("quick run: sizes and repeats too small to judge the targets; the verdicts above are indicative only.")
        return 0
    return 0 if all_met else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        sys.exit(2)
