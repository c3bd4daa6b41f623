"""``treadle train [OPTIONS] SCRIPT [ARGS...]``: a script on N workers per node, as one tracked run.

Like ``torchrun``: each worker runs SCRIPT with ARGS and finds its rank in ``RANK``/``LOCAL_RANK``/
``WORLD_SIZE``. Everything after SCRIPT goes to the script untouched (registered with
``allow_interspersed_args=False`` in ``_app.py``), so the script's own ``--nnodes`` stays its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from treadle.cli._context import state
from treadle.cli._output import err, note
from treadle.training import launch

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "allow_interspersed_args": False}


def train(
    ctx: typer.Context,
    script: Annotated[Path, typer.Argument(metavar="SCRIPT", help="The training script (.py); ARGS follow it.")],
    nproc_per_node: Annotated[int, typer.Option("--nproc-per-node", help="Workers on this node.")] = 1,
    nnodes: Annotated[int, typer.Option("--nnodes", help="Nodes taking part (each runs this command).")] = 1,
    node_rank: Annotated[int, typer.Option("--node-rank", help="This node's rank (0 owns the run).")] = 0,
    rdzv_endpoint: Annotated[
        str | None, typer.Option("--rdzv-endpoint", help="HOST:PORT of node 0 (needed with --nnodes > 1).")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="torch (elastic launcher) or ray (Ray Train).")] = "torch",
    max_restarts: Annotated[int, typer.Option("--max-restarts", help="Restarts of the worker group on failure.")] = 0,
    experiment: Annotated[str | None, typer.Option("--experiment", help="Experiment of the run.")] = None,
    run_name: Annotated[str | None, typer.Option("--run-name", help="Name of the run.")] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Join this run (nodes with --node-rank > 0: the id node 0 printed).")
    ] = None,
    use_gpu: Annotated[bool, typer.Option("--use-gpu", help="Ray backend: one GPU per worker.")] = False,
) -> None:
    """Run SCRIPT [ARGS...] on --nproc-per-node workers as one tracked run (rank 0 logs plain keys,
    rank r under rank{r}/)."""
    client = state(ctx).client()
    result = launch(
        str(script),
        nproc_per_node=nproc_per_node,
        nnodes=nnodes,
        node_rank=node_rank,
        rdzv_endpoint=rdzv_endpoint,
        backend=backend,  # type: ignore[arg-type]  # checked by launch
        max_restarts=max_restarts,
        experiment=experiment,
        run_name=run_name,
        run_id=run_id,
        use_gpu=use_gpu,
        script_args=list(ctx.args),
        client=client,
        on_start=lambda rid: err().print(
            f"treadle: training run {rid} ({backend}, world size {nproc_per_node * nnodes})"
        ),
    )
    note(f"Training run {result.run_id} finished in {result.elapsed_s:.1f}s on {result.world_size} workers.")
