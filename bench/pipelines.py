"""Pipelines benchmark: per-step overhead of treadle's in-process executor against ZenML's local orchestrator.

    .venv/bin/python bench/pipelines.py            # full run: 5 repeats a size, about 3-4 minutes on 2 cores
    .venv/bin/python bench/pipelines.py --quick    # 2 repeats, a smoke run (~2 minutes)

The same pipeline on both sides: ``n`` trivial steps in a chain (``inc(x: int) -> int: return x + 1``,
each fed by the one before), caching off so that every step runs, n = 10 and n = 1. treadle
(``.venv``): ``@step(cache=False)`` / ``@pipeline``, ``flow.run(start=...)`` on the in-process
executor against a fresh SQLite store with local artifacts; every step is a tracked run with its
output and log stored as artifacts. ZenML 0.98.0 (``zenml[local]`` in ``.bench-venv-zenml``, created
on first use): ``zenml init`` in a temporary repository with its own global configuration, the
default stack (local orchestrator, local artifact store, SQLite), ``@step(enable_cache=False)``,
ZenML's other defaults (step logs, artifact metadata). Each side runs in its own long-lived
interpreter (bench/_pipelines_treadle.py, bench/_pipelines_zenml.py); one warm-up run a size, then
the repeats alternate between the two systems. Each run's answer (status, number of steps, final
value ``start + n``) is checked; a wrong one stops the benchmark (exit code 2).

Reported (medians): the 10-step run's wall time divided by 10 (the per-step overhead, pipeline set-up
included; targets: treadle <= 10 ms and >= 10x lower than ZenML); for information the CPU time the
side's process spent per step (both run their steps in their own process, so this is the cost a busy
machine cannot inflate), the marginal cost of a step ((t10 - t1) / 9) and the 1-step run. A missed
target in a full run exits with 1. Results go to bench/out/pipelines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, ROOT, TREADLE_PY, BenchError, Row, Worker, cli_main, ensure_venv, print_table

ZENML_VENV = ROOT / ".bench-venv-zenml"
ZENML_PY = ZENML_VENV / "bin" / "python"
ZENML_VERSION = "0.98.0"
SIDES = ("treadle", "zenml")
TARGET_MS, TARGET_RATIO = 10.0, 10.0
SIZES = (10, 1)


def ensure_zenml(version: str) -> None:
    """``.bench-venv-zenml`` with ``zenml[local]==version``: the plain package cannot run pipelines
    without a server (it lacks SQLAlchemy for the local database)."""
    ensure_venv(ZENML_VENV, "zenml", version, pins=[f"zenml[local]=={version}"])
    probe = subprocess.run([str(ZENML_PY), "-c", "import sqlalchemy, sqlmodel"], capture_output=True, check=False)
    if probe.returncode != 0:
        print(f"[setup] adding zenml[local]=={version} to {ZENML_VENV.name}", flush=True)
        install = [str(ZENML_PY), "-m", "pip", "install", "-q", f"zenml[local]=={version}"]
        subprocess.run(install, check=True, timeout=1800)


def zenml_env(tmp: Path) -> dict[str, str]:
    """ZenML's global configuration under ``tmp`` (never ``~/.config/zenml``), analytics off, quiet."""
    return {
        "ZENML_CONFIG_PATH": str(tmp / "zenml-config"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_LOGGING_VERBOSITY": "ERROR",
        "ZENML_ENABLE_RICH_TRACEBACK": "false",
        "AUTO_OPEN_DASHBOARD": "false",
    }


class SideWorker(Worker):
    """bench/_common.py's worker (line protocol, alternation), started with a side's own interpreter."""

    def __init__(self, side: str, python: Path, workdir: Path, tmp: Path, env: dict[str, str]) -> None:
        self.side, self.tmp, self.calls, self.buf = side, tmp, 0, b""
        self.log = tmp / f"{side}-worker.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("TREADLE_", "ZENML_"))}
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [str(python), str(BENCH / f"_pipelines_{side}.py"), str(workdir)],
                cwd=tmp,
                env={**clean, **env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(BENCH)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )


@contextmanager
def side_workers(tmp: Path) -> Iterator[dict[str, SideWorker]]:
    repo = tmp / "zenml-repo"
    repo.mkdir()
    env = zenml_env(tmp)
    init = subprocess.run(
        [str(ZENML_VENV / "bin" / "zenml"), "init"],
        cwd=repo,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if init.returncode != 0:
        raise BenchError(f"zenml init failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
    (tmp / "treadle").mkdir()
    started: dict[str, SideWorker] = {}
    try:
        started["treadle"] = SideWorker("treadle", TREADLE_PY, tmp / "treadle", tmp, {})
        started["zenml"] = SideWorker("zenml", ZENML_PY, repo, tmp, env)
        yield started
    finally:
        for w in started.values():
            w.stop()


def check(side: str, answer: dict[str, Any], n: int, start: int) -> None:
    status = str(answer["status"]).lower()
    if status not in ("succeeded", "completed") or answer["steps"] != n or answer["output"] != start + n:
        raise BenchError(f"{side}: a {n}-step run from {start} answered {answer}, expected {start + n}")


Times = dict[str, dict[int, list[float]]]  # side -> steps -> seconds per repeat


def measure(w: dict[str, SideWorker], repeats: int) -> tuple[Times, Times]:
    """(wall-clock times, CPU times of the side's process) of every measured run."""
    times: Times = {side: {n: [] for n in SIZES} for side in SIDES}
    cpu: Times = {side: {n: [] for n in SIZES} for side in SIDES}
    start = 1000
    for n in SIZES:  # warm-up: imports, the first pipeline version, ZenML's default stack
        for side in SIDES:
            start += 1
            check(side, w[side].call("run", 900, n=n, start=start), n, start)
    for rep in range(repeats):
        for n in SIZES:
            for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
                start += 1
                answer = w[side].call("run", 900, n=n, start=start)
                check(side, answer, n, start)
                times[side][n].append(answer["time_s"])
                cpu[side][n].append(answer["cpu_s"])
        print(
            f"  repeat {rep + 1}/{repeats}: "
            + ", ".join(f"{s} {n} steps {times[s][n][-1] * 1000:.0f} ms" for s in SIDES for n in SIZES),
            flush=True,
        )
    return times, cpu


def rows(times: Times, cpu: Times) -> tuple[list[Row], dict[str, dict[str, float]]]:
    med = {s: {n: statistics.median(times[s][n]) * 1000 for n in SIZES} for s in SIDES}
    cpu_step = {s: statistics.median(cpu[s][10]) * 1000 / 10 for s in SIDES}
    per_step = {s: med[s][10] / 10 for s in SIDES}
    marginal = {s: max(med[s][10] - med[s][1], 0.0) / 9 for s in SIDES}
    out: list[Row] = [
        ("10-step run, ms per step", "ms", per_step["treadle"], per_step["zenml"], _ratio(per_step), TARGET_RATIO),
        ("10-step run, CPU ms per step", "ms", cpu_step["treadle"], cpu_step["zenml"], _ratio(cpu_step), None),
        ("marginal step (t10-t1)/9", "ms", marginal["treadle"], marginal["zenml"], _ratio(marginal), None),
        ("1-step run", "ms", med["treadle"][1], med["zenml"][1], med["zenml"][1] / med["treadle"][1], None),
        ("10-step run", "ms", med["treadle"][10], med["zenml"][10], med["zenml"][10] / med["treadle"][10], None),
    ]
    return out, {"per_step_ms": per_step, "marginal_ms": marginal, "cpu_per_step_ms": cpu_step}


def _ratio(v: dict[str, float]) -> float:
    return v["zenml"] / v["treadle"] if v["treadle"] > 0 else float("inf")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 repeats a size: a smoke run")
    ap.add_argument("--repeats", type=int, default=None, help="repeats a size (default 5, --quick 2)")
    ap.add_argument("--zenml-version", default=ZENML_VERSION, help="zenml pinned in .bench-venv-zenml")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (stores, worker logs)")
    ap.add_argument("--out", default=str(BENCH / "out" / "pipelines.json"), help="where to write the JSON results")
    opts = ap.parse_args()
    repeats = opts.repeats or (2 if opts.quick else 5)
    ensure_zenml(opts.zenml_version)
    tmp = Path(tempfile.mkdtemp(prefix="treadle-bench-pipelines-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_start = os.getloadavg()
    began = time.monotonic()
    try:
        with side_workers(tmp) as w:
            info = {side: w[side].call("info", 600) for side in SIDES}
            print(
                f"[setup] treadle {info['treadle']['version']}, ZenML {info['zenml']['version']} "
                f"({info['zenml']['orchestrator']} orchestrator)",
                flush=True,
            )
            times, cpu = measure(w, repeats)
    finally:
        if opts.keep:
            print(f"[kept] {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    table, derived = rows(times, cpu)
    facts = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "treadle": info["treadle"],
        "zenml": info["zenml"],
        "repeats": repeats,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
    }
    print()
    print(f"machine: {facts['cpus']} CPUs, {facts['platform']}")
    print(f"treadle {info['treadle']['version']} (Python {info['treadle']['python']}, in-process executor, SQLite)")
    print(f"ZenML {info['zenml']['version']} (Python {info['zenml']['python']}, local orchestrator, default stack)")
    print(
        "load average (1, 5, 15 min) at start {:.1f} {:.1f} {:.1f}, at end {:.1f} {:.1f} {:.1f}".format(
            *load_start, *facts["load_average_end"]
        )
    )
    print(f"{'quick' if opts.quick else 'full'} run, medians of {repeats}; {time.monotonic() - began:.0f}s")
    print()
    met = print_table(table, anchor="ZenML")
    per_step = derived["per_step_ms"]["treadle"]
    absolute = per_step <= TARGET_MS
    verdict = "met" if absolute else "NOT met"
    print(f"\ntreadle per-step overhead {per_step:.1f} ms (target <= {TARGET_MS:.0f} ms): {verdict}")
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    keys = ("benchmark", "unit", "treadle", "zenml", "ratio", "target")
    table_json = [dict(zip(keys, r, strict=True)) for r in table]
    out.write_text(
        json.dumps({"facts": facts, "table": table_json, "raw": {"times_s": times, "cpu_s": cpu, **derived}}, indent=1)
    )
    print(f"results: {out}")
    return 0 if (met and absolute) or opts.quick else 1


if __name__ == "__main__":
    cli_main(main)
