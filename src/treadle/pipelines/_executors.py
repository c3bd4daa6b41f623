"""``make_executor``: an executor by name (``inprocess``, ``process``, ``ray``) or as given."""

from __future__ import annotations

from treadle.errors import InvalidArgument
from treadle.pipelines.base import Executor

EXECUTORS = ("inprocess", "process", "ray")


def make_executor(executor: str | Executor | None, max_parallel: int | None = None) -> Executor:
    """An executor instance; heavy ones (processes, Ray) are imported only when asked for."""
    if isinstance(executor, Executor):
        return executor
    name = executor or "inprocess"
    if name == "inprocess":
        from treadle.pipelines._inprocess import InProcessExecutor

        return InProcessExecutor(max_parallel=max_parallel)
    if name == "process":
        from treadle.pipelines._process import ProcessExecutor

        return ProcessExecutor(max_parallel=max_parallel)
    if name == "ray":
        from treadle.pipelines._ray_exec import RayExecutor  # type: ignore[import-not-found,unused-ignore]

        return RayExecutor(max_parallel=max_parallel)  # type: ignore[no-any-return,unused-ignore]
    raise InvalidArgument(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)} (or pass an Executor)")
