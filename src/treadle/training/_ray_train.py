"""``backend="ray"``: the workers are Ray Train ``TorchTrainer`` workers on the Ray cluster.

The cluster is the one already initialised, else ``TREADLE_RAY_ADDRESS``, else a local one
(``treadle.data._ray.init_ray``). Ray Train sets up the torch process group (gloo on CPU, NCCL
with ``use_gpu``) and ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` before the user's code runs, so a
function written for the torch backend only skips its own ``init_process_group`` (check
``torch.distributed.is_initialized()``). Return values are not collected on Ray (Ray Train
drops them); report through ``td.log_metric`` instead.
"""

from __future__ import annotations

import shutil
import site
import sys
import tempfile
from pathlib import Path
from typing import Any


def _loop(config: dict[str, Any]) -> None:
    """Each Ray Train worker: attach to the launch's run as its world rank, then run the target."""
    import cloudpickle
    import ray.train

    from treadle.training import _worker

    target, args, kwargs, script_args, env = cloudpickle.loads(config["payload"])
    _worker.enter(env, ray.train.get_context().get_world_rank())
    if callable(target):
        try:
            target(*args, **kwargs)
        finally:
            _worker.leave()
    else:
        _worker.run_script(target, list(script_args or []))


def _pickle(cloudpickle: Any, obj: tuple[Any, ...]) -> bytes:
    """Pickle the target by value when its module is the user's own (not installed): Ray's
    workers do not share this process's ``sys.path``, so they could not import it by name."""
    module = sys.modules.get(getattr(obj[0], "__module__", "") or "")
    file = getattr(module, "__file__", None)
    installed = [Path(d).resolve() for d in [*site.getsitepackages(), site.getusersitepackages()]]
    local = (
        module is not None
        and file is not None
        and module.__name__ != "__main__"
        and not any(Path(file).resolve().is_relative_to(d) for d in installed)
        and not module.__name__.startswith("treadle.")
    )
    if not local:
        return bytes(cloudpickle.dumps(obj))
    cloudpickle.register_pickle_by_value(module)
    try:
        return bytes(cloudpickle.dumps(obj))
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def run_ray(
    target: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    script_args: list[str] | None,
    env: dict[str, str],
    num_workers: int,
    use_gpu: bool,
    max_restarts: int,
) -> tuple[dict[int, Any], dict[int, str], str | None]:
    """Fit a TorchTrainer; ``({}, failure message by rank, full report)``."""
    import cloudpickle

    from treadle.data._ray import init_ray

    init_ray("ray.train.torch", 'backend="ray"')
    from ray.train import FailureConfig, RunConfig, ScalingConfig, TrainingFailedError
    from ray.train.torch import TorchTrainer

    payload = _pickle(cloudpickle, (target if callable(target) else str(target), args, kwargs, script_args, env))
    storage = tempfile.mkdtemp(prefix="treadle-ray-train-")
    trainer = TorchTrainer(
        _loop,
        train_loop_config={"payload": payload},
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu),
        run_config=RunConfig(
            name=f"treadle-{env['TREADLE_RUN_ID']}",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=max_restarts),
        ),
    )
    try:
        trainer.fit()
    except TrainingFailedError as exc:
        by_rank = getattr(exc, "worker_failures", None) or {0: exc}  # Ray Train v2's WorkerGroupError has them
        failures = {int(rank): str(err) for rank, err in by_rank.items()}
        return {}, failures, str(exc)
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    return {}, {}, None
