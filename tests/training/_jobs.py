"""Worker functions the launch tests run (importable, so spawned workers can load them)."""

from __future__ import annotations

import os

import treadle as td


def ddp_train(steps: int, lr: float = 0.1) -> list[float]:
    """A linear model trained with DDP over gloo; each rank sees different data, so only a real
    all-reduce of the gradients keeps the ranks' parameters equal. Returns this rank's parameters."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)  # the same initial weights everywhere
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(100 + rank)  # different batches per rank
    td.log_param("lr", lr)
    td.set_tag("role", f"worker-{rank}")
    for step in range(steps):
        x = torch.randn(16, 4, generator=gen)
        y = x.sum(dim=1, keepdim=True) * (rank + 1)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        td.log_metric("loss", loss.item(), step=step)
    params = [float(v) for p in model.parameters() for v in p.detach().flatten()]
    dist.destroy_process_group()
    return params


def fail_on_rank_one() -> str:
    """Rank 1 raises; rank 0 returns normally."""
    if int(os.environ["RANK"]) == 1:
        raise ValueError("rank one broke on purpose")
    td.log_metric("ok", 1.0)
    return "done"


def ray_train(config: dict[str, float] | None = None) -> None:
    """Under Ray Train the process group is already up: all-reduce a tensor and log it."""
    import torch
    import torch.distributed as dist

    rank = dist.get_rank()
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    td.log_metric("sum", float(t.item()))
    td.log_param("world", dist.get_world_size())
