"""Choosing an executor for a model from its :class:`~treadle.rollout.ModelSpec`.

- ``backend="ray"``: Ray Serve replicas (:class:`treadle.serving._ray.RayExecutor`, imported only
  then, since Ray is an optional extra); Ray does its own replica autoscaling.
- ``replicas.min_replicas == 0``: inline, on threads of the server process — no process start-up and
  no pipe hop, the right choice for tiny models and tests, at the price of sharing the GIL.
- otherwise: a pool of worker processes, autoscaled between ``min_replicas`` and ``max_replicas``.

Whatever runs the model, ``spec.batching`` wraps it in :class:`BatchingExecutor`, so adaptive
batching behaves the same on every backend; ``on_batch`` hears each model call's row count.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from treadle.errors import InvalidArgument
from treadle.rollout import ModelSpec
from treadle.serving._types import Executor


def make_executor(
    model_dir: Path,
    spec: ModelSpec,
    *,
    backend: str = "local",
    on_batch: Callable[[int], None] | None = None,
) -> Executor:
    """An executor (not started yet) that runs the model in ``model_dir`` the way ``spec`` asks."""
    executor: Executor
    if backend == "ray":
        from treadle.serving._ray import RayExecutor

        executor = RayExecutor(model_dir, spec)
    elif backend != "local":
        raise InvalidArgument(f"unknown serving backend {backend!r}: use 'local' or 'ray'")
    elif spec.replicas.min_replicas == 0:
        from treadle.serving._inline import InlineExecutor

        executor = InlineExecutor(model_dir)
    else:
        from treadle.serving._pool import ProcessPoolExecutor

        executor = ProcessPoolExecutor(model_dir, spec.replicas)
    if spec.batching is not None:
        from treadle.serving._batching import BatchingExecutor

        executor = BatchingExecutor(executor, spec.batching, on_batch)
    return executor
