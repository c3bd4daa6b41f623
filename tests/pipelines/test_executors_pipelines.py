"""Whole pipelines through the real engine on the in-process and process executors (Ray: test_executors_ray.py):
same results, parallel branches, a SIGKILLed / crashed / timed-out step process, resume, a step venv."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.pipelines.test_executors import VENV_PACKAGE, gone
from treadle.client import Client
from treadle.pipelines import PipelineResult, pipeline, step

pytestmark = pytest.mark.slow


@pytest.fixture
def client() -> Client:
    """This test's backend (TREADLE_URI / TREADLE_ARTIFACTS), passed explicitly: the fluent default
    client is cached per process and would outlive the test's environment."""
    return Client()


# ------------------------------------------------------------------ a small diamond with real artifacts
@step(cache=False)
def make_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n), "y": np.arange(n) * 2.0})


@step(cache=False)
def column_sum(df: pd.DataFrame, column: str) -> float:
    return float(df[column].sum())


@step(cache=False)
def squares(df: pd.DataFrame) -> np.ndarray:
    return df["x"].to_numpy() ** 2


@step(cache=False)
def report(total_x: float, total_y: float, sq: np.ndarray) -> dict[str, Any]:
    return {"x": total_x, "y": total_y, "squares": sq.tolist(), "pid": os.getpid()}


@pipeline
def diamond(n: int = 5) -> dict[str, Any]:
    df = make_frame(n)
    return report(column_sum(df, "x"), column_sum(df, "y"), squares(df))


def test_same_results_in_process_and_in_processes(client: Client) -> None:
    results = {ex: diamond.run(client=client, executor=ex, n=6) for ex in ("inprocess", "process")}
    outputs = {}
    for ex, result in results.items():
        assert result.status == "SUCCEEDED"
        assert {s.status for s in result.steps.values()} == {"SUCCEEDED"}
        assert {s.executor for s in result.steps.values()} == {ex}
        outputs[ex] = result.output
    assert outputs["inprocess"]["pid"] == os.getpid()
    assert outputs["process"]["pid"] != os.getpid()
    for out in outputs.values():
        out.pop("pid")
    assert outputs["inprocess"] == outputs["process"] == {"x": 15.0, "y": 30.0, "squares": [0, 1, 4, 9, 16, 25]}
    pd.testing.assert_frame_equal(results["process"]["make_frame"], results["inprocess"]["make_frame"])


@step(cache=False)
def noisy(x: int) -> int:
    import treadle as td

    print("hello from the child")
    td.log_metric("seen", float(x))
    return x


@pipeline
def metered(x: int = 7) -> int:
    return noisy(x)


def test_metrics_and_output_of_a_step_process_land_in_its_run(client: Client) -> None:
    result = metered.run(client=client, executor="process", x=7)
    run = client.tracking.get_run(result.steps["noisy"].run_id or "")
    assert run.metrics == {"seen": 7.0}
    assert b"hello from the child" in client.read_artifact(run.id, "logs/step.log")


# ------------------------------------------------------------------ parallel branches
@step(cache=False)
def nap(seconds: float, label: str) -> list[float]:
    start = time.time()
    time.sleep(seconds)
    return [start, time.time()]


@pipeline
def branches(seconds: float = 1.5) -> list[list[float]]:
    return [nap(seconds, "a"), nap(seconds, "b")]


def test_parallel_branches_overlap_under_process(client: Client) -> None:
    result = branches.run(client=client, executor="process", max_parallel=2, seconds=1.5)
    (s1, e1), (s2, e2) = result.output
    assert max(s1, s2) < min(e1, e2), "the independent branches ran one after the other"


# ------------------------------------------------------------------ dead, crashed and hung step processes
@step(cache=False)
def upstream(n: int) -> int:
    return n + 1


@step(cache=False)
def fragile(x: int, folder: str) -> int:
    """Hangs (after writing its pid) until the test leaves an ``ok`` file: the test SIGKILLs it."""
    if (Path(folder) / "ok").exists():
        return x * 10
    (Path(folder) / "pid.part").write_text(str(os.getpid()))
    os.replace(Path(folder) / "pid.part", Path(folder) / "pid")
    time.sleep(120)
    return -1


@pipeline
def killable(folder: str, n: int = 1) -> int:
    return fragile(upstream(n), folder)


def wait_for(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


def test_a_sigkilled_step_fails_the_run_which_resumes(tmp_path: Path, client: Client) -> None:
    box: dict[str, PipelineResult] = {}
    runner = threading.Thread(
        target=lambda: box.setdefault(
            "r", killable.run(client=client, executor="process", raise_on_failure=False, folder=str(tmp_path))
        )
    )
    runner.start()
    pid = int(wait_for(tmp_path / "pid"))
    os.kill(pid, signal.SIGKILL)
    runner.join(60)
    failed = box["r"]
    assert failed.status == "FAILED"
    assert failed.steps["upstream"].status == "SUCCEEDED"
    assert failed.steps["fragile"].status == "FAILED"
    assert "killed by SIGKILL" in (failed.steps["fragile"].error or "")
    assert "fragile" in (failed.error or ""), "the run's error must name the failed step"

    (tmp_path / "ok").touch()
    resumed = killable.resume(failed.id, executor="process", client=client)
    assert resumed.id == failed.id and resumed.status == "SUCCEEDED"
    assert resumed.output == 20
    assert resumed.steps["upstream"].attempt == 1, "resume re-ran a step that had succeeded"
    assert resumed.steps["fragile"].attempt == 2


def test_a_killed_driver_takes_its_step_processes_along_and_the_run_resumes(tmp_path: Path, client: Client) -> None:
    script = "from tests.pipelines.test_executors_pipelines import killable; "
    script += f"killable.run(executor='process', folder={str(tmp_path)!r})"
    driver = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    try:
        pid = int(wait_for(tmp_path / "pid"))
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 15
    while not gone(pid):
        assert time.monotonic() < deadline, "the step process outlived its driver"
        time.sleep(0.1)
    time.sleep(0.6)  # older than stale_after_s even when the driver beat just before dying
    [stale] = client.pipelines.reap_stale(stale_after_s=0.5)
    assert stale.status == "FAILED"
    (tmp_path / "ok").touch()
    assert killable.resume(stale.id, executor="process", client=client).output == 20


@step(cache=False, timeout_s=1.0)
def hang(folder: str) -> int:
    (Path(folder) / "pid").write_text(str(os.getpid()))
    time.sleep(120)
    return 0


@pipeline
def hung(folder: str) -> int:
    return hang(folder)


def test_a_timeout_kills_the_step_process(tmp_path: Path, client: Client) -> None:
    started = time.monotonic()
    result = hung.run(client=client, executor="process", raise_on_failure=False, folder=str(tmp_path))
    assert time.monotonic() - started < 60
    assert result.status == "FAILED"
    assert "timeout" in (result.steps["hang"].error or "")
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 10
    while not gone(pid):
        assert time.monotonic() < deadline, "the timed-out step's process is still running"
        time.sleep(0.05)


@step(cache=False)
def crash(code: int) -> int:
    os._exit(code)


@pipeline
def crashing(code: int = 3) -> int:
    return crash(code)


def test_a_crashed_step_process_is_reported(client: Client) -> None:
    result = crashing.run(client=client, executor="process", raise_on_failure=False, code=3)
    assert result.status == "FAILED"
    assert "exited with code 3" in (result.steps["crash"].error or "")


@step(cache=False, retries=1, retry_delay_s=0.1)
def crash_once(folder: str) -> str:
    marker = Path(folder) / "crashed"
    if not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return "second time lucky"


@pipeline
def flaky(folder: str) -> str:
    return crash_once(folder)


def test_a_lost_step_process_is_retried(tmp_path: Path, client: Client) -> None:
    result = flaky.run(client=client, executor="process", folder=str(tmp_path))
    assert result.output == "second time lucky"
    assert result.steps["crash_once"].attempt == 2


# ------------------------------------------------------------------ a step with its own requirements
@step(cache=False, requirements=[VENV_PACKAGE])
def in_own_venv(words: str) -> dict[str, str]:
    import inflection

    return {"prefix": sys.prefix, "camel": inflection.camelize(words)}


@step(cache=False)
def shout(info: dict[str, str]) -> str:
    return info["camel"].upper()


@pipeline
def venv_flow(words: str = "step_in_a_venv") -> dict[str, Any]:
    info = in_own_venv(words)
    return {"info": info, "loud": shout(info)}


def test_a_step_with_requirements_runs_in_its_venv(client: Client) -> None:
    out = venv_flow.run(client=client, executor="process", words="hello_world").output
    venvs = Path(os.environ["TREADLE_CACHE"]) / "venvs"
    assert Path(out["info"]["prefix"]).parent == venvs
    assert out["info"]["camel"] == "HelloWorld"
    assert out["loud"] == "HELLOWORLD"
