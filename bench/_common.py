"""What every treadle-against-MLflow benchmark in bench/ shares (runs in treadle's .venv).

- ``.bench-venv``: MLflow in its own virtual environment, pinned (:func:`ensure_bench_venv`);
- both servers on SQLite on free loopback ports under one temporary directory, always stopped
  (:func:`servers`, :class:`Server`);
- long-lived client processes, one per side, each in its own interpreter and speaking the line
  protocol of bench/_worker.py (:class:`Worker`, :func:`workers`), whose repeats alternate
  (:func:`interleaved`);
- medians (:func:`summarise`), the options, the header and the table every benchmark prints.
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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TREADLE_PY = ROOT / ".venv" / "bin" / "python"
BENCH_VENV = ROOT / ".bench-venv"
MLFLOW_PY = BENCH_VENV / "bin" / "python"
MLFLOW_VERSION = "3.17.2"

SIDES = ("treadle", "mlflow")


class BenchError(RuntimeError):
    """The benchmark could not run, or the two systems disagreed."""


# ------------------------------------------------------------------------------------------- setup
def ensure_venv(venv: Path, package: str, version: str, pins: Sequence[str] = ()) -> None:
    """Create ``venv`` with ``package==version`` (and ``pins``) unless it already has exactly that version."""
    python = venv / "bin" / "python"
    if python.exists():
        found = subprocess.run(
            [str(python), "-c", f"import {package}; print({package}.__version__)"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        ).stdout.strip()
        if found == version:
            return
        print(f"[setup] {venv.name} has {package} {found or 'none'}; installing {package}=={version}", flush=True)
    else:
        print(f"[setup] creating {venv} with {package}=={version} (a few minutes, once)", flush=True)
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    install = [str(python), "-m", "pip", "install", "-q", f"{package}=={version}", *pins]
    subprocess.run(install, check=True, timeout=1800)


def ensure_bench_venv(version: str) -> None:
    """Create .bench-venv with mlflow==version unless it already has exactly that version."""
    ensure_venv(BENCH_VENV, "mlflow", version)


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
    """Both servers on SQLite under ``tmp`` (MLflow also serving artifacts from ``tmp``); their base URLs."""
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

    It runs ``bench/_<bench>_<side>.py DATA URI`` (treadle's side in .venv, MLflow's in
    .bench-venv). Requests go to its stdin as JSON lines; the answer is a JSON file, announced by a
    ``DONE`` line on its stdout (see bench/_worker.py). Keeping both workers alive lets the two
    systems' repeats alternate, so that a busy neighbour on the machine slows both sides alike.
    """

    def __init__(
        self,
        side: str,
        data_path: Path,
        uri: str,
        tmp: Path,
        bench: str = "tracking",
        client: tuple[Path, str] | None = None,
    ) -> None:
        # ``client``: (interpreter, script) instead of the side's own SDK, e.g. MLflow's client on both sides.
        py, script = client or (TREADLE_PY if side == "treadle" else MLFLOW_PY, f"_{bench}_{side}.py")
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
def workers(
    data_path: Path, uris: dict[str, str], tmp: Path, bench: str = "tracking", client: tuple[Path, str] | None = None
) -> Iterator[dict[str, Worker]]:
    """One :class:`Worker` a side; ``client`` runs the same (interpreter, script) against both servers."""
    started: dict[str, Worker] = {}
    try:
        for side in SIDES:
            started[side] = Worker(side, data_path, uris[side], tmp, bench, client)
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


# ------------------------------------------------------------------------------------- the command
def add_common_options(ap: argparse.ArgumentParser, out: Path) -> None:
    """The options every benchmark takes (``--quick``, how MLflow runs, ``--keep``, ``--out``)."""
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
    ap.add_argument("--out", default=str(out), help="where to write the JSON results")


def run_in_tmp(opts: argparse.Namespace, prefix: str, body: Callable[[Path], int]) -> int:
    """Ensure .bench-venv, then ``body(tmp)`` in a fresh temporary directory that is always removed
    (unless ``--keep``), even on SIGTERM."""
    ensure_bench_venv(opts.mlflow_version)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    # A SIGTERM (e.g. a timeout around this script) still stops the servers and removes tmp.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return body(tmp)
    finally:
        if opts.keep:
            print(f"[kept] {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def cli_main(main: Callable[[], int]) -> None:
    """Exit with ``main()``'s code; a :class:`BenchError` prints ``BENCHMARK FAILED`` and exits 2."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        sys.exit(2)


# ------------------------------------------------------------------------------------------ report
def fmt(v: float, unit: str) -> str:
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:,.1f} {unit}"


def machine_facts(
    opts: argparse.Namespace, clients: dict[str, dict], load_start: tuple[float, float, float], sizes: Any
) -> dict[str, Any]:
    return {
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


def print_header(facts: dict[str, Any], opts: argparse.Namespace, elapsed: float) -> None:
    print()
    print(f"machine: {facts['cpus']} CPUs, {facts['platform']}")
    print(f"treadle {facts['treadle']} (Python {facts['treadle_python']}, server 1 uvicorn worker, SQLite)")
    print(
        f"MLflow {facts['mlflow']} (Python {facts['mlflow_python']}, `mlflow server --workers "
        f"{facts['mlflow_workers']}`, job execution {'on' if opts.mlflow_jobs else 'off'}, SQLite)"
    )
    print(
        "load average (1, 5, 15 min) at start {:.1f} {:.1f} {:.1f}, at end {:.1f} {:.1f} {:.1f}".format(
            *facts["load_average_start"], *facts["load_average_end"]
        )
    )
    print(f"{'quick' if opts.quick else 'full'} run, medians; {elapsed:.0f}s of benchmarking")
    print()


Row = tuple[str, str, float, float, float, float | None]  # name, unit, treadle, MLflow, ratio, target


def print_table(rows: Sequence[Row], anchor: str = "MLflow", width: int = 28) -> bool:
    """The table of results; whether every row with a target met it (rows without one are shown
    for information, with ``-`` as target). ``width`` is the benchmark column's."""
    header = f"{'benchmark':{width}s} {'treadle':>16s} {anchor:>16s} {'ratio':>8s} {'target':>8s}  met"
    print(header)
    print("-" * len(header))
    all_met = True
    for name, unit, a, b, ratio, target in rows:
        if target is None:
            print(f"{name:{width}s} {fmt(a, unit):>16s} {fmt(b, unit):>16s} {ratio:7.1f}x {'-':>8s}  (info)")
            continue
        met = ratio >= target
        all_met &= met
        verdict = "yes" if met else "NO"
        print(f"{name:{width}s} {fmt(a, unit):>16s} {fmt(b, unit):>16s} {ratio:7.1f}x {target:7.0f}x  {verdict}")
    return all_met


def write_results(path: str, facts: dict[str, Any], rows: Sequence[Row], raw: dict[str, Any]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "facts": facts,
                "table": [
                    dict(zip(("benchmark", "unit", "treadle", "mlflow", "ratio", "target"), r, strict=True))
                    for r in rows
                ],
                "raw": raw,
            },
            indent=1,
            default=str,
        )
    )
    print(f"results: {out}")
    return out
