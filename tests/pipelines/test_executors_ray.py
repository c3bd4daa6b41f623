"""The Ray executor on a local Ray cluster (one per module): results, resources, dead workers, cancel, venvs."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.test_executors import (
    VENV_PACKAGE,
    add,
    fail,
    gone,
    hard_exit,
    in_venv,
    make_task,
    sleep_forever,
    standin_run,
    value_of,
)
from tests.pipelines.test_executors_pipelines import crashing, diamond
from treadle.client import Client
from treadle.pipelines import pipeline, step
from treadle.pipelines._process import StepLost

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A local Ray cluster for this module (or the one another module already started: left running)."""
    owned = not ray.is_initialized()
    if owned:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        if owned:
            ray.shutdown()


@pytest.fixture
def executor(cluster: Any) -> Iterator[Any]:
    from treadle.pipelines._ray_exec import RayExecutor

    with RayExecutor(runner=standin_run) as ex:
        yield ex


def assigned() -> dict[str, float]:
    import ray

    return {k: float(v) for k, v in ray.get_runtime_context().get_assigned_resources().items()}


def test_runs_the_step_as_a_ray_task(executor: Any) -> None:
    assert executor.max_parallel == int(ray.cluster_resources()["CPU"])  # the cluster's CPUs
    value = value_of(executor.submit(make_task(add, a=20, b=22)).result(timeout=120))
    assert value["sum"] == 42
    assert value["pid"] != os.getpid()


def test_step_resources_become_the_tasks_resources(executor: Any) -> None:
    task = make_task(assigned, name="sized")
    task.step.resources.update({"cpus": 0.5, "memory_mb": 64})
    value = value_of(executor.submit(task).result(timeout=120))
    assert value["CPU"] == 0.5
    assert value["memory"] == 64 * 2**20


def test_a_raising_step_is_an_outcome(executor: Any) -> None:
    outcome = executor.submit(make_task(fail, message="nope")).result(timeout=120)
    assert outcome.error == "ValueError: nope"


def test_a_dead_worker_fails_the_step(executor: Any) -> None:
    future = executor.submit(make_task(hard_exit, name="crashy", code=3))
    with pytest.raises(StepLost, match="step 'crashy': its Ray worker died"):
        future.result(timeout=120)


def test_cancel_kills_the_worker(executor: Any, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    future = executor.submit(make_task(sleep_forever, name="hang", pid_file=str(pid_file)))
    deadline = time.monotonic() + 120
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    worker, _ = map(int, pid_file.read_text().split())
    executor.cancel(future)
    with pytest.raises(StepLost, match="step 'hang' was cancelled"):
        future.result(timeout=10)
    deadline = time.monotonic() + 30
    while not gone(worker):
        assert time.monotonic() < deadline, "ray.cancel(force=True) left the worker running"
        time.sleep(0.1)


def test_a_step_with_requirements_runs_under_its_venv_python(executor: Any) -> None:
    value = value_of(executor.submit(make_task(in_venv, name="v", requirements=[VENV_PACKAGE])).result(timeout=300))
    venvs = Path(os.environ["TREADLE_CACHE"]) / "venvs"
    assert Path(value["prefix"]).parent == venvs
    assert value["camel"] == "StepRunsHere"
    assert Path(value["prefix"]) != Path(sys.prefix)


@step(cache=False, timeout_s=4.0)
def hang_on_ray(folder: str) -> int:
    (Path(folder) / "pid").write_text(str(os.getpid()))
    time.sleep(120)
    return 0


@pipeline
def hung_on_ray(folder: str) -> int:
    return hang_on_ray(folder)


def test_a_pipeline_gives_the_same_results_on_ray(cluster: Any) -> None:
    result = diamond.run(client=Client(), executor="ray", n=6)
    assert {s.executor for s in result.steps.values()} == {"ray"}
    out = result.output
    assert out.pop("pid") != os.getpid()
    assert out == {"x": 15.0, "y": 30.0, "squares": [0, 1, 4, 9, 16, 25]}


def test_a_crashed_ray_worker_fails_the_step(cluster: Any) -> None:
    result = crashing.run(client=Client(), executor="ray", raise_on_failure=False, code=3)
    assert result.status == "FAILED"
    assert "its Ray worker died" in (result.steps["crash"].error or "")


def test_a_timeout_cancels_the_ray_task(cluster: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    result = hung_on_ray.run(client=Client(), executor="ray", raise_on_failure=False, folder=str(tmp_path))
    assert time.monotonic() - started < 60
    assert "ran past its timeout" in (result.steps["hang_on_ray"].error or "")
    if not (tmp_path / "pid").exists():
        pytest.skip("the Ray worker did not start within the step's timeout on this loaded machine")
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 30
    while not gone(pid):
        assert time.monotonic() < deadline, "the timed-out step's Ray worker is still running"
        time.sleep(0.1)
