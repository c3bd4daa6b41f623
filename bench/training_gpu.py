"""One DDP job over NCCL through ``treadle.training.launch``, on every GPU torch sees.

    .venv/bin/python bench/training_gpu.py            # NCCL, one worker per GPU; skips without CUDA
    .venv/bin/python bench/training_gpu.py --cpu      # the same job over gloo on 2 CPU processes
    .venv/bin/python bench/training_gpu.py --steps 50 # shorter

The job: an MLP (1024 -> 4096 -> 4096 -> 1024, ReLU, float32, ~21M parameters, seed 0) wrapped in
``DistributedDataParallel``, SGD on random batches of 256 rows that differ per rank, ``--steps``
steps after 5 warm-up steps. It runs as one tracked run in a store under a temporary directory:
rank 0 logs ``loss`` and ``samples_per_s``, other ranks the same under ``rank{r}/``. Printed and
written to bench/out/training_gpu.json: device names, world size, wall time of the launch
(process start, rendezvous and NCCL set-up included), the training loop's samples/s (all ranks
together), the final loss, and whether the ranks' parameters are equal at the end (they only are
when the gradient all-reduce really ran). No target: it shows the launcher works on NCCL. Without
CUDA it prints why it skipped and exits 0 (``--cpu`` exercises the same code path).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "training_gpu.json"
SIZES = (1024, 4096, 4096, 1024)
BATCH = 256
WARMUP = 5


def job(steps: int, backend: str) -> dict[str, Any]:
    """One rank of the DDP job; returns its timings, last loss and a fingerprint of its parameters."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import treadle as td

    local = int(os.environ["LOCAL_RANK"])
    device = torch.device(f"cuda:{local}") if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, device_id=device if backend == "nccl" else None)
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for a, b in itertools.pairwise(SIZES):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = DistributedDataParallel(
        torch.nn.Sequential(*layers[:-1]).to(device), device_ids=[local] if backend == "nccl" else None
    )
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=device).manual_seed(1000 + rank)

    def step() -> torch.Tensor:
        x = torch.randn(BATCH, SIZES[0], device=device, generator=gen)
        loss = torch.nn.functional.mse_loss(model(x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(WARMUP):
        step()
    if backend == "nccl":
        torch.cuda.synchronize()
    dist.barrier()
    started = time.perf_counter()
    for i in range(steps):
        loss = step()
        if i % 10 == 0 or i == steps - 1:
            td.log_metric("loss", loss.item(), step=i)
    if backend == "nccl":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    td.log_metric("samples_per_s", BATCH * steps / elapsed)
    fingerprint = float(sum(p.detach().double().sum().item() for p in model.parameters()))
    name = torch.cuda.get_device_name(device) if backend == "nccl" else "cpu"
    dist.destroy_process_group()
    return {"elapsed_s": elapsed, "loss": loss.item(), "fingerprint": fingerprint, "device": name, "world": world}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="gloo on 2 CPU processes instead of NCCL on the GPUs")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    import torch

    if args.cpu:
        backend, nproc = "gloo", 2
    elif not torch.cuda.is_available():
        print(
            "training_gpu: skipped: torch sees no CUDA device (torch.cuda.is_available() is False); "
            "run on a GPU machine, or with --cpu for the same job over gloo"
        )
        return 0
    else:
        backend, nproc = "nccl", torch.cuda.device_count()
    import treadle as td
    from treadle.training import launch

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TREADLE_CAPTURE_ENVIRONMENT"] = "false"
        client = td.set_uri(f"sqlite:///{tmp}/bench.db", f"{tmp}/artifacts")
        started = time.perf_counter()
        result = launch(job, args.steps, backend, nproc_per_node=nproc, experiment="bench-ddp")
        wall = time.perf_counter() - started
        run = client.get_run(result.run_id)
        logged = sorted(run.metrics)
    ranks = [result.returns[r] for r in sorted(result.returns)]
    loop = max(r["elapsed_s"] for r in ranks)
    figures = {
        "backend": backend,
        "devices": [r["device"] for r in ranks],
        "world_size": result.world_size,
        "steps": args.steps,
        "batch_per_rank": BATCH,
        "launch_wall_s": round(wall, 2),
        "loop_s": round(loop, 3),
        "samples_per_s": round(BATCH * args.steps * len(ranks) / loop, 1),
        "final_loss": [round(r["loss"], 6) for r in ranks],
        "params_equal_across_ranks": len({round(r["fingerprint"], 3) for r in ranks}) == 1,
        "run_status": run.status,
        "run_metrics": logged,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }
    for key, value in figures.items():
        print(f"{key:>26}: {value}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {OUT}")
    return 0 if figures["params_equal_across_ranks"] and run.status == "FINISHED" else 1


if __name__ == "__main__":
    sys.exit(main())
