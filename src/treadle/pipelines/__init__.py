"""Pipelines: ``@step`` and ``@pipeline``, executors, caching, triggers and built-in components.

::

    from treadle.pipelines import pipeline, step

    @step
    def load(n: int) -> list[int]:
        return list(range(n))

    @step(retries=2, timeout_s=60)
    def total(xs: list[int]) -> int:
        return sum(xs)

    @pipeline
    def flow(n: int = 10) -> int:
        return total(load(n))

    flow.spec                  # the static DAG, before anything runs
    result = flow.run(n=5)     # every step a nested tracked run; outputs in the artifact store
    result.output, result["load"]
"""

from treadle.pipelines._engine_run import run_queued
from treadle.pipelines._executors import EXECUTORS, make_executor
from treadle.pipelines._load import load_pipeline
from treadle.pipelines._materialize import OutputError, load_output, save_output
from treadle.pipelines._pipeline import Pipeline, pipeline
from treadle.pipelines._result import PipelineFailed, PipelineResult
from treadle.pipelines._step import Step, step
from treadle.pipelines._task import StepOutcome, StepTask
from treadle.pipelines._task_run import run_task
from treadle.pipelines.base import Executor

__all__ = [
    "EXECUTORS",
    "Executor",
    "OutputError",
    "Pipeline",
    "PipelineFailed",
    "PipelineResult",
    "Step",
    "StepOutcome",
    "StepTask",
    "load_output",
    "load_pipeline",
    "make_executor",
    "pipeline",
    "run_queued",
    "run_task",
    "save_output",
    "step",
]


def __getattr__(name: str) -> object:
    """``treadle.pipelines.Scheduler`` without importing the scheduler for every pipeline user."""
    if name == "Scheduler":
        from treadle.pipelines._scheduler import Scheduler

        return Scheduler
    raise AttributeError(f"module 'treadle.pipelines' has no attribute {name!r}")
