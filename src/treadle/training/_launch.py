"""``treadle.training.launch``: a function or script on N workers per node, as one tracked run.

``backend="torch"`` runs the workers with torch's elastic launcher (what ``torchrun`` uses):
one node rendezvous at ``localhost:0`` (c10d, a free port), several nodes with a static
rendezvous at ``rdzv_endpoint`` (node 0's ``host:port``) and each node's ``node_rank``.
``backend="ray"`` runs them as Ray Train's ``TorchTrainer`` workers (see ``_ray_train``).

Rank conventions (the same on both backends): the launcher creates the run and passes its id to
the workers; rank 0 logs under plain keys, rank r > 0 under ``rank{r}/`` (metrics, params, tags,
artifact paths). A worker that fails makes the run FAILED with the error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from treadle.client import Client, get_client
from treadle.config import Settings
from treadle.errors import InvalidArgument
from treadle.training._elastic import run_torch
from treadle.training._run import (
    LaunchResult,
    TrainingFailed,
    attach_run,
    create_run,
    finish,
    summarize,
    worker_env,
)

Backend = Literal["torch", "ray"]
BACKENDS = ("torch", "ray")


def launch(
    fn_or_script: Callable[..., Any] | str | os.PathLike[str],
    *args: Any,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    backend: Backend = "torch",
    experiment: str | None = None,
    run_name: str | None = None,
    max_restarts: int = 0,
    rdzv_endpoint: str | None = None,
    node_rank: int = 0,
    use_gpu: bool = False,
    script_args: list[str] | None = None,
    run_id: str | None = None,
    raise_on_failure: bool = True,
    client: Client | None = None,
    on_start: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> LaunchResult:
    """Run ``fn_or_script`` on ``nproc_per_node`` workers (times ``nnodes``) as one tracked run.

    A function gets ``*args, **kwargs`` (it is cloudpickled: closures and ``__main__`` functions
    work); a script (a ``.py`` path) gets ``script_args`` as its command line. Each worker finds
    its rank in ``RANK`` / ``LOCAL_RANK`` / ``WORLD_SIZE`` and calls
    ``torch.distributed.init_process_group`` itself (under Ray Train the group is set up already).
    Inside the workers ``td.log_metric`` etc. log to the launch's run. Returns a
    :class:`LaunchResult`; a failed launch raises :class:`TrainingFailed` (with ``.result``)
    unless ``raise_on_failure=False``. ``run_id`` joins an existing run (nodes with
    ``node_rank > 0`` must); ``on_start(run_id)`` is called once the run exists.
    """
    check_args(fn_or_script, nproc_per_node, nnodes, backend, max_restarts, node_rank, rdzv_endpoint)
    client = client or get_client()
    world = nproc_per_node * nnodes
    target = entrypoint_name(fn_or_script)
    if node_rank > 0 or run_id is not None:
        rid = attach_run(client, run_id)
    else:
        tags = {
            "treadle.training.backend": backend,
            "treadle.training.nproc_per_node": str(nproc_per_node),
            "treadle.training.nnodes": str(nnodes),
            "treadle.training.world_size": str(world),
            "treadle.training.entrypoint": target,
        }
        rid = create_run(client, experiment, run_name, tags, Settings().capture_environment)
    env = worker_env(client, rid)
    if on_start is not None:
        on_start(rid)
    started = time.monotonic()
    try:
        if backend == "ray":
            from treadle.training._ray_train import run_ray

            returns, failures, report = run_ray(
                fn_or_script, args, kwargs, script_args, env, nproc_per_node * nnodes, use_gpu, max_restarts
            )
        else:
            returns, failures, report = run_torch(
                fn_or_script,
                args,
                kwargs,
                script_args,
                env,
                nproc_per_node,
                nnodes,
                max_restarts,
                rdzv_endpoint,
                node_rank,
            )
    except BaseException as exc:  # interrupted (Ctrl-C, SIGTERM) or the launcher broke: never leave it RUNNING
        if node_rank == 0:
            interrupted = isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "SignalException"
            client.tracking.end_run(rid, "KILLED" if interrupted else "FAILED")
        raise
    error = summarize(failures) if failures else None
    result = LaunchResult(
        run_id=rid,
        status="FAILED" if failures else "FINISHED",
        backend=backend,
        world_size=world,
        elapsed_s=time.monotonic() - started,
        returns=returns,
        error=error,
        failures=failures,
    )
    if node_rank == 0:
        finish(client, result, report)
    if failures and raise_on_failure:
        raise TrainingFailed(result)
    return result


def check_args(
    target: Any,
    nproc_per_node: int,
    nnodes: int,
    backend: str,
    max_restarts: int,
    node_rank: int,
    rdzv_endpoint: str | None,
) -> None:
    """Bad shapes fail before a run is created or a process started."""
    if backend not in BACKENDS:
        raise InvalidArgument(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if nproc_per_node < 1 or nnodes < 1:
        raise InvalidArgument(f"nproc_per_node and nnodes must be >= 1 (got {nproc_per_node} and {nnodes})")
    if max_restarts < 0:
        raise InvalidArgument(f"max_restarts must be >= 0, not {max_restarts}")
    if not 0 <= node_rank < nnodes:
        raise InvalidArgument(f"node_rank must be in [0, {nnodes}) for nnodes={nnodes}, not {node_rank}")
    if backend == "torch" and nnodes > 1 and not rdzv_endpoint:
        raise InvalidArgument(f"nnodes={nnodes} needs rdzv_endpoint='HOST:PORT' (node 0's address, the same on all)")
    if backend == "ray" and (nnodes > 1 or node_rank):
        raise InvalidArgument("backend='ray' places workers on the Ray cluster itself: leave nnodes/node_rank at 1/0")
    if not callable(target):
        path = Path(target)
        if path.suffix != ".py" or not path.is_file():
            raise InvalidArgument(f"{target} is not a Python script (a .py file that exists) nor a function")


def entrypoint_name(target: Any) -> str:
    if callable(target):
        return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"
    return str(Path(target).resolve())
