"""A small PyTorch model served by ``treadle serve``, with and without adaptive batching, on a GPU.

    .venv/bin/python bench/serving_gpu.py                 # device cuda when torch sees one, else cpu
    .venv/bin/python bench/serving_gpu.py --device cpu    # the same on the CPU (what runs without a GPU)
    .venv/bin/python bench/serving_gpu.py --quick         # 3 s a point

The model is an MLP (256 -> 1024 -> 1024 -> 16, ReLU, float32, ~1.3M parameters, seed 0) wrapped in
a ``treadle.models.PythonModel`` that keeps its weights and builds the network on the device named
by ``TREADLE_BENCH_DEVICE`` when the server loads it (treadle's pytorch flavor loads on the CPU;
this is how a GPU model is served). It is logged and registered as ``bench-mlp`` in a store under a
temporary directory and served by ``treadle serve`` with 1 worker, once unbatched and once with
``--batch-size 32 --max-latency-ms 2``. Load: 1-row OIP ``/v2/models/bench-mlp/infer`` requests
(one FP32 [1, 256] tensor, 64 distinct rows), concurrency 32, from bench/_serving_load.py in its own
process; requests/s, p50/p99, errors, and the in-process floor (1 row and 32 rows on the device).
Answers are checked against the argmax computed in process (rows whose top two logits are close
are left out, so float noise between batch shapes cannot flip a label). Results go to
bench/out/serving_gpu.json. No target: it reports what batching buys on the device.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import treadle as td
from _common import BENCH, BenchError, Row, cli_main, write_results
from serving import Point, ServerFactory, Sizes, run_group, treadle_cmd
from treadle.models import PythonModel

NAME = "bench-mlp"
SIZES = (256, 1024, 1024, 16)
FULL = Sizes(15, 3, 32, 32, 200, 64)
QUICK = Sizes(3, 1, 32, 32, 50, 64)


class MLPModel(PythonModel):
    """The MLP's weights (numpy), built into a torch network on ``TREADLE_BENCH_DEVICE`` at load.

    Defined in the script (``__main__``), so cloudpickle stores the class by value and the server
    needs no import of this file.
    """

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state = state
        self.net: Any = None
        self.device = "cpu"

    def load_context(self, context: Any) -> None:
        import torch

        threads = int(os.environ.get("TREADLE_BENCH_THREADS", "0"))
        if threads:
            torch.set_num_threads(threads)
        self.build(os.environ.get("TREADLE_BENCH_DEVICE", "cpu"))

    def build(self, device: str) -> None:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False  # same arithmetic as the in-process reference
        layers: list[Any] = []
        for i in range(len(SIZES) - 1):
            layers.append(torch.nn.Linear(SIZES[i], SIZES[i + 1]))
            if i < len(SIZES) - 2:
                layers.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*layers)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in self.state.items()})
        self.net, self.device = net.to(device).eval(), device

    def logits(self, data: Any) -> np.ndarray:
        import torch

        if self.net is None:
            self.build("cpu")
        with torch.inference_mode():
            x = torch.as_tensor(np.asarray(data, dtype=np.float32)).to(self.device, non_blocking=True)
            return np.asarray(self.net(x).float().cpu().numpy())

    def predict(self, context: Any, data: Any) -> Any:
        return self.logits(data).argmax(axis=1).astype(np.int64)

    def __getstate__(self) -> dict[str, Any]:
        return {"state": self.state, "net": None, "device": "cpu"}


def make_model() -> MLPModel:
    import torch

    torch.manual_seed(0)
    layers: list[Any] = []
    for i in range(len(SIZES) - 1):
        layers.append(torch.nn.Linear(SIZES[i], SIZES[i + 1]))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    return MLPModel({k: v.detach().numpy().copy() for k, v in net.state_dict().items()})


def request_rows(model: MLPModel, n: int) -> tuple[np.ndarray, list[int]]:
    """``n`` rows (4 decimals, so the JSON is what the model sees) whose top two logits differ by
    at least 1e-3, and their labels."""
    rng = np.random.default_rng(0)
    x = np.round(rng.standard_normal((8 * n, SIZES[0])), 4).astype(np.float32)
    logits = model.logits(x)
    top2 = np.sort(logits, axis=1)[:, -2:]
    keep = np.flatnonzero(top2[:, 1] - top2[:, 0] > 1e-3)[:n]
    if len(keep) < n:
        raise BenchError(f"only {len(keep)} rows with a clear argmax")
    return x[keep], [int(v) for v in logits[keep].argmax(axis=1)]


def floor(model: MLPModel, x: np.ndarray, repeats: int) -> float:
    for _ in range(10):
        model.logits(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.logits(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def device_facts(device: str) -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {"torch": torch.__version__, "device": device, "cuda_available": torch.cuda.is_available()}
    if device.startswith("cuda"):
        facts["gpu"] = torch.cuda.get_device_name(0)
    return facts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", help="cuda or cpu (default: cuda when torch sees a GPU)")
    ap.add_argument("--quick", action="store_true", help="3 s a point")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-latency-ms", type=float, default=2.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument(
        "--threads",
        type=int,
        help="torch threads in the server's worker and for the floor (default: 1 on cpu, where the "
        "server, its worker and the load generator share the cores; torch's own choice on cuda)",
    )
    ap.add_argument("--rounds", type=int, help="rounds per point, alternating the servers (default 3; --quick 1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--out", default=str(BENCH / "out" / "serving_gpu.json"))
    opts = ap.parse_args()
    import torch

    opts.rounds = opts.rounds or (1 if opts.quick else 3)
    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    base = QUICK if opts.quick else FULL
    sizes = Sizes(base.duration_s, base.warmup_s, opts.concurrency, opts.concurrency, base.floor_repeats, base.rows)
    tmp = Path(tempfile.mkdtemp(prefix="treadle-bench-serving-gpu-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return bench(opts, sizes, device, tmp)
    finally:
        if opts.keep:
            print(f"[kept] {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(opts: argparse.Namespace, sizes: Sizes, device: str, tmp: Path) -> int:
    os.environ.setdefault("TREADLE_CAPTURE_ENVIRONMENT", "false")
    started = time.monotonic()
    model = make_model()
    x, labels = request_rows(model, sizes.rows)
    (tmp / "treadle-artifacts").mkdir()
    td.set_uri(f"sqlite:///{tmp / 'treadle.db'}", str(tmp / "treadle-artifacts"))
    td.set_experiment("bench-serving-gpu")
    with td.start_run(name=NAME):
        td.log_model(model, "model", registered_model_name=NAME, input_example=x[:2])
    threads = opts.threads if opts.threads is not None else (1 if device == "cpu" else 0)
    if threads:
        import torch

        torch.set_num_threads(threads)
    model.build(device)
    floors = {"1_row": floor(model, x[:1], sizes.floor_repeats), "32_rows": floor(model, x[:32], sizes.floor_repeats)}
    if [int(v) for v in model.predict(None, x).tolist()] != labels:
        raise BenchError(f"the model on {device} predicts other labels than on the CPU")
    body = [
        json.dumps({"inputs": [{"name": "input", "shape": [1, SIZES[0]], "datatype": "FP32", "data": row.tolist()}]})
        for row in x
    ]
    env = {
        "TREADLE_BENCH_THREADS": str(threads),
        "TREADLE_BENCH_DEVICE": device,
        "TREADLE_CACHE": str(tmp / "treadle-cache"),
        "TREADLE_CAPTURE_ENVIRONMENT": "false",
    }
    batch = (opts.batch_size, opts.max_latency_ms)
    print(
        f"[bench] {NAME} on {device}: 1-row OIP infer at concurrency {sizes.concurrency}, "
        f"{sizes.duration_s:g} s a point"
    )

    def treadle(how: tuple[int, float] | None) -> ServerFactory:
        return lambda port: (treadle_cmd(tmp, NAME, port, 1, how), "/v2/health/ready", env)

    servers = {"unbatched": treadle(None), "batched": treadle(batch)}
    path = f"/v2/models/{NAME}/infer"
    plan = [Point(label, path, "oip", body, labels, sizes.concurrency) for label in servers]
    points = run_group(tmp, servers, plan, sizes, opts.rounds)
    facts = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "treadle": td.__version__,
        **device_facts(device),
        "torch_threads": threads or "default",
        "sizes": sizes.__dict__,
        "batching": {"batch_size": opts.batch_size, "max_latency_ms": opts.max_latency_ms},
        "elapsed_s": time.monotonic() - started,
    }
    b, u = points["batched"], points["unbatched"]
    rows: list[Row] = [
        (
            "MLP batched/unbatched req/s",
            "req/s",
            b["requests_per_s"],
            u["requests_per_s"],
            b["requests_per_s"] / u["requests_per_s"],
            None,
        ),
        ("MLP batched/unbatched p99", "ms", b["p99_ms"], u["p99_ms"], u["p99_ms"] / b["p99_ms"], None),
    ]
    print()
    print(
        f"device: {device} ({facts.get('gpu', platform.processor() or 'CPU')}), torch {facts['torch']}, "
        f"{facts['cpus']} CPUs; the load generator runs on the same host"
    )
    print(f"in-process floor: 1 row {floors['1_row'] * 1000:.3f} ms, 32 rows {floors['32_rows'] * 1000:.3f} ms")
    for label, p in points.items():
        print(
            f"  {label:10s} {p['requests_per_s']:8.1f} req/s  p50 {p['p50_ms']:7.2f} ms  p99 {p['p99_ms']:7.2f} ms  "
            f"errors {p['errors']}"
        )
    print(f"batched / unbatched: {rows[0][4]:.2f}x the requests/s; unbatched p99 / batched p99: {rows[1][4]:.2f}")
    write_results(opts.out, facts, rows, {"points": points, "floors_s": floors})
    return 0


if __name__ == "__main__":
    cli_main(main)
