"""``backend="torch"``: the workers under torch's elastic launcher (what ``torchrun`` uses).

One node: a c10d rendezvous at ``localhost:0`` (a free port). Several nodes: a static rendezvous at
``rdzv_endpoint`` (node 0's ``HOST:PORT``) with each node's ``node_rank``, as ``torchrun`` does.
Workers are spawned (not forked): a function travels cloudpickled to ``_worker.call``; a script runs
as ``python -m treadle.training._worker ENV SCRIPT ARGS``. A failed rank's traceback comes back from
the error file elastic's ``@record`` writes.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any


def run_torch(
    target: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    script_args: list[str] | None,
    env: dict[str, str],
    nproc_per_node: int,
    nnodes: int,
    max_restarts: int,
    rdzv_endpoint: str | None,
    node_rank: int,
) -> tuple[dict[int, Any], dict[int, str], str | None]:
    """Run under torch elastic; ``(returns by rank, failure message by rank, full failure report)``."""
    import cloudpickle
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from treadle.training import _worker

    if nnodes == 1 and not rdzv_endpoint:
        rdzv: dict[str, Any] = {"rdzv_backend": "c10d", "rdzv_endpoint": "localhost:0"}
    else:
        rdzv = {"rdzv_backend": "static", "rdzv_endpoint": rdzv_endpoint, "rdzv_configs": {"rank": node_rank}}
    config = LaunchConfig(
        min_nodes=nnodes,
        max_nodes=nnodes,
        nproc_per_node=nproc_per_node,
        run_id=f"treadle-{env['TREADLE_RUN_ID']}",  # the same on every node: it prefixes the rendezvous keys
        max_restarts=max_restarts,
        monitor_interval=0.1,
        start_method="spawn",
        **rdzv,
    )
    if callable(target):
        payload = cloudpickle.dumps((target, args, kwargs, env))
        entry: Any = _worker.call
        launch_args: list[Any] = [payload]
    else:
        entry = sys.executable
        launch_args = ["-u", "-m", "treadle.training._worker", json.dumps(env), str(target), *(script_args or [])]
    quiet = logging.getLogger("torch.distributed.elastic")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its INFO/WARNING lines are about the agent, not the user's job
    try:
        returns = elastic_launch(config, entry)(*launch_args)
    except ChildFailedError as exc:
        failures = {rank: failure_text(f) for rank, f in exc.failures.items()}
        return {}, failures, exc.format_msg()
    finally:
        quiet.setLevel(level)
    return ({} if not callable(target) else dict(returns)), {}, None


def failure_text(failure: Any) -> str:
    """A failed rank's traceback (from torch elastic's error file) or what is known of its exit."""
    message = failure.message
    if isinstance(message, dict):
        extra = message.get("extraInfo") or {}
        return str(extra.get("py_callstack") or message.get("message") or f"exit {failure.exitcode}")
    if not message or "To enable traceback" in str(message):
        return f"exited with code {failure.exitcode} and no traceback"
    return str(message)
