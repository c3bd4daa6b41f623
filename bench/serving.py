"""Serving benchmark: ``treadle serve`` against ``mlflow models serve``, and treadle's batching.

    .venv/bin/python bench/serving.py            # full run: 15 s a point, about 8 minutes on 2 cores
    .venv/bin/python bench/serving.py --quick    # 3 s a point in 1 round, a smoke run (~4 minutes)

Part 1, treadle against MLflow. One scikit-learn LogisticRegression on the breast-cancer data (569
rows, 30 named features), fitted identically on both sides, logged and registered as ``bench-bc``
version 1 in each system's own store (SQLite under one temporary directory). Served by
``mlflow models serve -m models:/bench-bc/1 --env-manager local --workers N`` (MLflow 3.17.2 in
.bench-venv) and by ``treadle serve models:/bench-bc/1 --workers N``, N = 1 then 2. Load: 1-row
``POST /invocations`` requests (``dataframe_split`` with the 30 column names; 64 distinct rows in
turn), concurrency 8, closed loop, from a separate process on loopback (bench/_serving_load.py).
Both servers of a comparison run at once (the idle one waits); each point gets 3 s of warm-up and
15 s measured in 3 rounds of 5 s, the servers taking turns in alternating order, so that a burst
of other work on the machine hits both alike. Reported: requests/s, p50/p99 latency, errors, and
the CPU each server's processes spent per request. Targets: treadle >= 3x MLflow's requests/s and
<= 1/3 of its p99. For information: the same treadle server on the Open Inference Protocol path
(``/v2/models/bench-bc/infer``, one FP64 [1, 30] tensor), treadle with ``--workers 0`` (the model in
the server process), and the in-process floor: one-row predict of the sklearn model, of treadle's
loaded model and of MLflow's pyfunc.

Part 2, treadle's adaptive batching. A 200-tree RandomForestClassifier (``bench-rf``) served by
treadle with 1 worker, unbatched and with ``--batch-size 32 --max-latency-ms 2``, same 1-row
requests at concurrency 32, rounds as above. Target: batched >= 2x unbatched requests/s.

Every answer of the warm-up and every 50th after it is checked against the label the model predicts
in process; a wrong answer stops the run (``BENCHMARK FAILED``, exit code 2). A missed target in a
full run exits with 1. Results are printed and written to bench/out/serving.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    BENCH,
    BENCH_VENV,
    MLFLOW_PY,
    MLFLOW_VERSION,
    ROOT,
    TREADLE_PY,
    BenchError,
    Row,
    Server,
    cli_main,
    free_port,
    run_in_tmp,
    write_results,
)
from _serving_load import percentile
from _serving_report import print_points, print_summary

LR, RF = "bench-bc", "bench-rf"
TARGET_RPS, TARGET_P99, TARGET_BATCH = 3.0, 3.0, 2.0


@dataclass(frozen=True)
class Sizes:
    duration_s: float
    warmup_s: float
    concurrency: int
    rf_concurrency: int
    floor_repeats: int
    rows: int


FULL = Sizes(15, 3, 8, 32, 2000, 64)
QUICK = Sizes(3, 1, 8, 32, 300, 64)


# ------------------------------------------------------------------------------------------- setup
def make_data(tmp: Path, sizes: Sizes) -> dict[str, Any]:
    """The breast-cancer data (the columns named as sklearn names them) and the request rows."""
    from sklearn.datasets import load_breast_cancer

    ds = load_breast_cancer()
    x, y = np.asarray(ds.data, dtype=np.float64), np.asarray(ds.target, dtype=np.int64)
    columns = [str(c) for c in ds.feature_names]
    rows = np.random.default_rng(0).choice(len(y), size=sizes.rows, replace=False)
    np.savez(tmp / "data.npz", x=x, y=y, rows=rows)
    (tmp / "columns.json").write_text(json.dumps(columns))
    (tmp / "floor.json").write_text(json.dumps({"repeats": sizes.floor_repeats}))
    return {"x": x, "columns": columns, "rows": rows}


def prepare(tmp: Path) -> dict[str, Any]:
    """Fit, log and register the models on both sides (each in its own venv) and measure the floors."""
    out: dict[str, Any] = {}
    (tmp / "treadle-artifacts").mkdir()
    jobs = {
        "mlflow": [str(MLFLOW_PY), str(BENCH / "_serving_mlflow.py"), str(tmp / "data.npz"), str(tmp)],
        "treadle": [
            str(TREADLE_PY),
            str(BENCH / "_serving_treadle.py"),
            str(tmp / "data.npz"),
            f"sqlite:///{tmp / 'treadle.db'}",
            str(tmp / "treadle-artifacts"),
        ],
    }
    for side, cmd in jobs.items():
        path = tmp / f"prepare-{side}.json"
        t0 = time.monotonic()
        proc = subprocess.run([*cmd, str(path)], cwd=tmp, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise BenchError(f"{side} preparation failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        out[side] = json.loads(path.read_text())
        print(f"[setup] {side}: models fitted, logged and registered in {time.monotonic() - t0:.1f}s", flush=True)
    if out["mlflow"]["labels"] != out["treadle"]["models"][LR]["labels"]:
        raise BenchError("the two sides' LogisticRegression predict different labels for the request rows")
    return out


def bodies(data: dict[str, Any], kind: str, input_name: str = "") -> list[str]:
    """One pre-encoded JSON body per request row."""
    x, cols = data["x"], data["columns"]
    out = []
    for r in data["rows"]:
        row = [float(v) for v in x[r]]
        if kind == "oip":
            tensor = {"name": input_name, "shape": [1, len(row)], "datatype": "FP64", "data": row}
            out.append(json.dumps({"inputs": [tensor]}))
        else:
            out.append(json.dumps({"dataframe_split": {"columns": cols, "data": [row]}}))
    return out


# ---------------------------------------------------------------------------------------- servers
def mlflow_cmd(port: int, workers: int) -> list[str]:
    return [
        str(BENCH_VENV / "bin" / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{LR}/1",
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def treadle_cmd(tmp: Path, model: str, port: int, workers: int, batch: tuple[int, float] | None) -> list[str]:
    cmd = [
        str(ROOT / ".venv" / "bin" / "treadle"),
        "--uri",
        f"sqlite:///{tmp / 'treadle.db'}",
        "--artifacts",
        str(tmp / "treadle-artifacts"),
        "serve",
        f"models:/{model}/1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if batch is not None:
        cmd += ["--batch-size", str(batch[0]), "--max-latency-ms", str(batch[1])]
    return cmd


def mlflow_environment(tracking_uri: str, tmp: Path) -> dict[str, str]:
    """``mlflow models serve`` runs ``bash -c "exec uvicorn ..."``: the venv's bin must be on PATH,
    as in an activated venv. It downloads the model into TMPDIR (the benchmark's directory)."""
    path = f"{BENCH_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return {"MLFLOW_TRACKING_URI": tracking_uri, "TMPDIR": str(tmp), "PATH": path}


def tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by a process and each of its live descendants,
    keyed ``"<pid> <command>"`` (the server's front process and its workers apart)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    out: dict[str, float] = {}
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            cmd = " ".join(p.cmdline())
            out[f"{p.pid} {cmd[:100]}"] = t.user + t.system
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per process, the CPU seconds spent between two :func:`tree_cpu` samples (root first)."""
    return {k: round(v - before.get(k, 0.0), 3) for k, v in after.items()}


@contextlib.contextmanager
def server(tmp: Path, label: str, cmd: list[str], health_path: str, port: int, env: dict[str, str]) -> Iterator[Server]:
    s = Server(label, cmd, f"http://127.0.0.1:{port}{health_path}", tmp, env)
    try:
        ready = s.wait_ready(300)
        print(f"  [{label}] ready in {ready:.1f}s", flush=True)
        yield s
    finally:
        s.stop()


@dataclass(frozen=True)
class Point:
    """One kind of load against one of a group's servers (``name`` defaults to the server's label)."""

    server: str
    path: str
    kind: str
    bodies: list[str]
    expect: list[int]
    concurrency: int
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.server


ServerFactory = Callable[[int], tuple[list[str], str, dict[str, str]]]  # port -> (command, health path, env)


def run_group(
    tmp: Path, servers: dict[str, ServerFactory], plan: list[Point], sizes: Sizes, rounds: int
) -> dict[str, dict[str, Any]]:
    """Start every server of the group, then measure ``plan``'s points in ``rounds`` rounds of
    ``duration_s / rounds`` each, the order reversed every other round, so that a neighbour's burst
    on the machine falls on every side alike; the rounds of each point merged."""
    with contextlib.ExitStack() as stack:
        running: dict[str, tuple[Server, int]] = {}
        for label, make in servers.items():
            port = free_port()
            cmd, health, env = make(port)
            running[label] = (stack.enter_context(server(tmp, label, cmd, health, port, env)), port)
        for pt in plan:
            if pt.kind == "oip":
                oip_model_name(running[pt.server][1], pt.path.split("/")[3])
        results: dict[str, list[dict[str, Any]]] = {pt.name: [] for pt in plan}
        for r in range(rounds):
            for pt in plan if r % 2 == 0 else plan[::-1]:
                s, port = running[pt.server]
                warmup = sizes.warmup_s if r == 0 else min(1.0, sizes.warmup_s)
                results[pt.name].append(load(tmp, f"{pt.name}-r{r}", s, port, pt, sizes.duration_s / rounds, warmup))
    merged = {name: merge(name, rs) for name, rs in results.items()}
    for name, res in merged.items():
        print(
            f"  {'[' + name + ']':24s} {res['requests_per_s']:8.1f} req/s  p50 {res['p50_ms']:7.2f} ms  "
            f"p99 {res['p99_ms']:7.2f} ms  "
            f"errors {res['errors']}  server CPU {res['server_cpu_ms_per_request']:.2f} ms/req  (all rounds)",
            flush=True,
        )
    return merged


def load(tmp: Path, label: str, s: Server, port: int, pt: Point, duration: float, warmup: float) -> dict[str, Any]:
    """One load run against a running server: the load generator's answer plus the server's CPU."""
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "path": pt.path,
        "kind": pt.kind,
        "bodies": pt.bodies,
        "expect": pt.expect,
        "concurrency": pt.concurrency,
        "duration_s": duration,
        "warmup_s": warmup,
    }
    spec_path, out_path = tmp / f"load-{label}.spec.json", tmp / f"load-{label}.json"
    spec_path.write_text(json.dumps(spec))
    cpu0, load0 = tree_cpu(s.proc.pid), os.getloadavg()[0]
    proc = subprocess.run(
        [str(TREADLE_PY), str(BENCH / "_serving_load.py"), str(spec_path), str(out_path)],
        capture_output=True,
        text=True,
        timeout=duration + warmup + 120,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"the load generator failed on {label}:\n{proc.stderr[-3000:]}")
    res: dict[str, Any] = json.loads(out_path.read_text())
    res["server_cpu_by_process_s"] = cpu_delta(cpu0, tree_cpu(s.proc.pid))
    res["server_cpu_s"] = sum(res["server_cpu_by_process_s"].values())
    res["loadavg_before"] = load0
    if res["wrong"]:
        raise BenchError(f"{label}: {res['wrong']} wrong answers, e.g. {res['wrong_samples'][:2]}")
    if res["requests"] == 0:
        raise BenchError(f"{label}: no request answered; errors {res['error_samples']}\n{s.tail()}")
    print(
        f"    {label:22s} {res['requests_per_s']:8.1f} req/s  p50 {res['p50_ms']:7.2f} ms  "
        f"p99 {res['p99_ms']:7.2f} ms  "
        f"errors {res['errors']}  (load average {load0:.1f})",
        flush=True,
    )
    return res


def merge(label: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one point as one: counts and CPU added up, percentiles over all latencies."""
    lat = sorted(v for r in rounds for v in r.pop("latencies_us"))
    duration = sum(r["duration_s"] for r in rounds)
    total = {
        k: sum(r[k] for r in rounds)
        for k in ("requests", "errors", "warmup_requests", "late", "checked", "wrong", "client_cpu_s", "server_cpu_s")
    }
    answered = max(total["requests"] + total["warmup_requests"] + total["late"], 1)
    by_process: dict[str, float] = {}
    for r in rounds:
        for k, v in r["server_cpu_by_process_s"].items():
            by_process[k] = round(by_process.get(k, 0.0) + v, 3)
    return {
        "label": label,
        "concurrency": rounds[0]["concurrency"],
        "rounds": len(rounds),
        "duration_s": duration,
        **total,
        "requests_per_s": total["requests"] / duration,
        "p50_ms": percentile(lat, 50) / 1000,
        "p90_ms": percentile(lat, 90) / 1000,
        "p99_ms": percentile(lat, 99) / 1000,
        "max_ms": lat[-1] / 1000 if lat else float("nan"),
        "server_cpu_by_process_s": by_process,
        "server_cpu_ms_per_request": total["server_cpu_s"] / answered * 1000,
        "client_cpu_ms_per_request": total["client_cpu_s"] / answered * 1000,
        "per_round": [
            {k: r[k] for k in ("requests_per_s", "p50_ms", "p99_ms", "errors", "loadavg_before")} for r in rounds
        ],
        "error_samples": [e for r in rounds for e in r["error_samples"]][:5],
    }


def oip_model_name(port: int, wanted: str) -> str:
    """The name the server lists the model under (``wanted`` when it is there, else the only one)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models", timeout=10) as r:
        names = [str(m["name"]) for m in json.loads(r.read())["models"]]
    if wanted in names or len(names) != 1:
        if wanted not in names:
            raise BenchError(f"the server lists models {names}, not {wanted!r}")
        return wanted
    return names[0]


def ratio_rows(points: dict[str, dict[str, Any]], worker_counts: list[int]) -> list[Row]:
    """The summary table: treadle against its anchor (MLflow, or treadle unbatched for RF200);
    requests/s as treadle / anchor, latencies as anchor / treadle (higher is better for treadle)."""
    rows: list[Row] = []

    def add(name: str, a: str, b: str, target_rps: float | None, target_p99: float | None, p50: bool) -> None:
        t, m = points.get(a), points.get(b)
        if not (t and m):
            return
        rps = t["requests_per_s"], m["requests_per_s"]
        rows.append((f"{name} req/s", "req/s", *rps, rps[0] / rps[1], target_rps))
        rows.append((f"{name} p99 (lower x)", "ms", t["p99_ms"], m["p99_ms"], m["p99_ms"] / t["p99_ms"], target_p99))
        if p50:
            rows.append((f"{name} p50 (lower x)", "ms", t["p50_ms"], m["p50_ms"], m["p50_ms"] / t["p50_ms"], None))

    for w in worker_counts:
        add(f"LR {w}w", f"treadle-w{w}", f"mlflow-w{w}", TARGET_RPS, TARGET_P99, True)
    first = worker_counts[0]
    add(f"LR OIP {first}w vs MLflow", f"treadle-oip-w{first}", f"mlflow-w{first}", None, None, False)
    add(f"LR treadle 0w vs MLflow {first}w", "treadle-w0", f"mlflow-w{first}", None, None, False)
    add("RF200 batched/unbatched", "rf-batched", "rf-unbatched", TARGET_BATCH, None, True)
    return rows


# -------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 s a point (1 s warm-up): a smoke run of every point")
    ap.add_argument("--duration", type=float, help="seconds measured per point (default 15; --quick 3)")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    ap.add_argument(
        "--no-inline",
        action="store_true",
        help="skip the extra point of treadle with --workers 0 (the model on threads of the server process)",
    )
    ap.add_argument("--batch-size", type=int, default=32, help="treadle --batch-size for part 2 (default 32)")
    ap.add_argument("--max-latency-ms", type=float, default=2.0, help="treadle --max-latency-ms (default 2)")
    ap.add_argument("--rf-concurrency", type=int, help="concurrency of part 2 (default 32)")
    ap.add_argument(
        "--rounds",
        type=int,
        help="split each point into this many rounds, alternating the servers (default 3; --quick 1)",
    )
    ap.add_argument("--only", choices=("mlflow", "batching"), help="run only part 1 or part 2")
    ap.add_argument("--mlflow-version", default=MLFLOW_VERSION, help="mlflow pinned in .bench-venv")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (stores, server logs)")
    ap.add_argument("--out", default=str(BENCH / "out" / "serving.json"), help="where to write the JSON results")
    opts = ap.parse_args()
    sizes = QUICK if opts.quick else FULL
    if opts.duration or opts.rf_concurrency:
        sizes = Sizes(
            opts.duration or sizes.duration_s,
            sizes.warmup_s,
            sizes.concurrency,
            opts.rf_concurrency or sizes.rf_concurrency,
            sizes.floor_repeats,
            sizes.rows,
        )
    opts.rounds = opts.rounds or (1 if opts.quick else 3)
    return run_in_tmp(opts, "treadle-bench-serving-", lambda tmp: bench(opts, sizes, tmp))


def bench(opts: argparse.Namespace, sizes: Sizes, tmp: Path) -> int:
    data = make_data(tmp, sizes)
    load_start = os.getloadavg()
    started = time.monotonic()
    prep = prepare(tmp)
    mlflow_env = mlflow_environment(prep["mlflow"]["tracking_uri"], tmp)
    treadle_env = {"TREADLE_CACHE": str(tmp / "treadle-cache"), "TREADLE_CAPTURE_ENVIRONMENT": "false"}
    lr_expect, rf_expect = prep["treadle"]["models"][LR]["labels"], prep["treadle"]["models"][RF]["labels"]
    inv = bodies(data, "invocations")
    # One FP64 [1, 30] tensor per request: the server maps its 30 columns onto the signature's.
    oip = bodies(data, "oip", "input")
    points: dict[str, dict[str, Any]] = {}
    worker_counts = [int(w) for w in opts.workers.split(",") if w.strip()]

    def mlflow(workers: int) -> Callable[[int], tuple[list[str], str, dict[str, str]]]:
        return lambda port: (mlflow_cmd(port, workers), "/ping", mlflow_env)

    def treadle(model: str, workers: int, batch: tuple[int, float] | None = None) -> Callable[[int], Any]:
        return lambda port: (treadle_cmd(tmp, model, port, workers, batch), "/v2/health/ready", treadle_env)

    lr = ("/invocations", "invocations", inv, lr_expect, sizes.concurrency)
    if opts.only != "batching":
        print(f"[1/2] {LR}: 1-row /invocations at concurrency {sizes.concurrency}, {sizes.duration_s:g} s a point")
        for i, workers in enumerate(worker_counts):
            servers = {f"mlflow-w{workers}": mlflow(workers), f"treadle-w{workers}": treadle(LR, workers)}
            plan = [Point(f"mlflow-w{workers}", *lr), Point(f"treadle-w{workers}", *lr)]
            if i == 0:
                oip_path = f"/v2/models/{LR}/infer"
                plan.append(
                    Point(
                        f"treadle-w{workers}",
                        oip_path,
                        "oip",
                        oip,
                        lr_expect,
                        sizes.concurrency,
                        f"treadle-oip-w{workers}",
                    )
                )
                if not opts.no_inline:
                    servers["treadle-w0"] = treadle(LR, 0)
                    plan.append(Point("treadle-w0", *lr))
            points.update(run_group(tmp, servers, plan if i % 2 == 0 else plan[::-1], sizes, opts.rounds))

    if opts.only != "mlflow":
        batch = (opts.batch_size, opts.max_latency_ms)
        print(
            f"[2/2] {RF}: 1-row /invocations at concurrency {sizes.rf_concurrency}, unbatched vs "
            f"--batch-size {batch[0]} --max-latency-ms {batch[1]:g}"
        )
        servers = {"rf-unbatched": treadle(RF, 1), "rf-batched": treadle(RF, 1, batch)}
        rf = ("/invocations", "invocations", inv, rf_expect, sizes.rf_concurrency)
        plan = [Point("rf-unbatched", *rf), Point("rf-batched", *rf)]
        points.update(run_group(tmp, servers, plan, sizes, opts.rounds))

    elapsed = time.monotonic() - started
    facts = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "orchestrator_python": platform.python_version(),
        "treadle": prep["treadle"]["treadle"],
        "treadle_python": prep["treadle"]["python"],
        "treadle_sklearn": prep["treadle"]["sklearn"],
        "mlflow": prep["mlflow"]["mlflow"],
        "mlflow_python": prep["mlflow"]["python"],
        "mlflow_sklearn": prep["mlflow"]["sklearn"],
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "load_generator": "bench/_serving_load.py, 1 process on the same machine (shares its CPUs)",
        "sizes": sizes.__dict__,
        "rounds": opts.rounds,
        "batching": {"batch_size": opts.batch_size, "max_latency_ms": opts.max_latency_ms},
        "elapsed_s": elapsed,
    }
    floors = {
        "sklearn_lr": prep["treadle"]["models"][LR]["floor_s"]["sklearn_predict_1_row"],
        "treadle_lr": prep["treadle"]["models"][LR]["floor_s"]["treadle_predict_1_row"],
        "mlflow_sklearn_lr": prep["mlflow"]["floor_s"]["sklearn_predict_1_row"],
        "mlflow_pyfunc_lr": prep["mlflow"]["floor_s"]["pyfunc_predict_1_row"],
        "sklearn_rf": prep["treadle"]["models"][RF]["floor_s"]["sklearn_predict_1_row"],
        "treadle_rf": prep["treadle"]["models"][RF]["floor_s"]["treadle_predict_1_row"],
        "treadle_rf_32_rows": prep["treadle"]["models"][RF]["floor_s"]["treadle_predict_32_rows"],
    }
    rows = ratio_rows(points, worker_counts)
    print_points(facts, points, floors)
    all_met = print_summary(rows)
    write_results(opts.out, facts, rows, {"points": points, "floors_s": floors, "prepare": prep})
    errors = sum(p["errors"] for p in points.values())
    if errors:
        print(f"note: {errors} failed requests in all (see each point's errors above)")
    return 0 if all_met or opts.quick else 1


if __name__ == "__main__":
    cli_main(main)
