"""The process executor on hand-made StepTasks: results, step errors, dead children, cancel, parallelism, venvs.

The child calls ``standin_run`` (a tiny runner: JSON values in, a JSON preview out) instead of the
engine's ``run_task``, so these tests pin the executor's own contract; test_executors_pipelines.py
runs whole pipelines through the real engine on every executor.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from treadle.errors import InvalidArgument
from treadle.orchestration._records import OutputRef, StepSpec
from treadle.pipelines._envs import env_key, step_python
from treadle.pipelines._process import ProcessExecutor, StepLost, describe_exit
from treadle.pipelines._task import StepOutcome, StepTask

VENV_PACKAGE = "inflection==0.5.1"  # tiny, pure Python, not installed in treadle's own environment


def standin_run(task: StepTask) -> StepOutcome:
    """Run ``task`` like run_task would, minus the backend: values in, the JSON of the result out."""
    fn = cloudpickle.loads(task.function)
    kwargs = dict(task.values)
    kwargs.update({arg: json.loads(ref.preview or "null") for arg, ref in task.inputs.items()})
    started = time.perf_counter()
    try:
        value = fn(**kwargs)
    except Exception as exc:
        return StepOutcome(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    text = json.dumps(value)
    ref = OutputRef(
        name="output",
        kind="json",
        digest=hashlib.sha256(text.encode()).hexdigest(),
        size=len(text),
        type=type(value).__name__,
        preview=text,
    )
    return StepOutcome(outputs={"output": ref}, log=f"pid {os.getpid()}", duration_s=time.perf_counter() - started)


def make_task(
    fn: Callable[..., Any], name: str = "s", requirements: list[str] | None = None, **values: Any
) -> StepTask:
    spec = StepSpec(name=name, function=f"{__name__}:{fn.__name__}", code_digest="0", requirements=requirements or [])
    return StepTask(
        pipeline_run_id="p1",
        step=spec,
        function=cloudpickle.dumps(fn),
        inputs={},
        values=values,
        run_id="r1",
        uri="sqlite://",
        artifacts="/nonexistent",
    )


def value_of(outcome: StepOutcome) -> Any:
    assert outcome.ok, outcome.error
    return json.loads(outcome.outputs["output"].preview or "null")


def add(a: int, b: int) -> dict[str, int]:
    return {"sum": a + b, "pid": os.getpid()}


def fail(message: str) -> None:
    raise ValueError(message)


def hard_exit(code: int) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def timed_sleep(seconds: float) -> list[float]:
    start = time.time()
    time.sleep(seconds)
    return [start, time.time()]


def sleep_forever(pid_file: str) -> None:
    """Start a grandchild, write both pids, then hang: cancel must kill the whole process group."""
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    Path(pid_file + ".part").write_text(f"{os.getpid()} {grandchild.pid}")
    os.replace(pid_file + ".part", pid_file)
    time.sleep(120)


def in_venv() -> dict[str, str]:
    import inflection

    import treadle

    return {
        "prefix": sys.prefix,
        "inflection": inflection.__file__,
        "camel": inflection.camelize("step_runs_here"),
        "treadle": treadle.__file__,
    }


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def executor() -> Any:
    ex = ProcessExecutor(max_parallel=2, runner=standin_run)
    assert ex.start == "forkserver"
    with ex:
        yield ex


@pytest.fixture(params=["forkserver", "exec"])
def each_start(request: pytest.FixtureRequest) -> Any:
    """The executor starting children both ways: forked from the forkserver, and a fresh interpreter."""
    with ProcessExecutor(max_parallel=2, start=request.param, runner=standin_run) as ex:
        yield ex


pytestmark = pytest.mark.slow  # every test here starts child processes


def test_runs_the_step_in_a_child_process(each_start: ProcessExecutor) -> None:
    outcome = each_start.submit(make_task(add, a=2, b=3)).result(timeout=60)
    value = value_of(outcome)
    assert value["sum"] == 5
    assert value["pid"] != os.getpid()


def test_a_raising_step_is_an_outcome_not_a_lost_step(executor: ProcessExecutor) -> None:
    outcome = executor.submit(make_task(fail, message="bad input 42")).result(timeout=60)
    assert outcome.error == "ValueError: bad input 42"
    assert outcome.traceback is not None and "fail" in outcome.traceback


def test_a_crashed_child_is_reported_with_its_exit_code(each_start: ProcessExecutor) -> None:
    future = each_start.submit(make_task(hard_exit, name="crashy", code=3))
    with pytest.raises(StepLost, match=r"step 'crashy': its process \(pid \d+\) exited with code 3"):
        future.result(timeout=60)


def test_a_sigkilled_child_is_reported_with_the_signal(each_start: ProcessExecutor) -> None:
    future = each_start.submit(make_task(kill_self, name="victim"))
    with pytest.raises(StepLost, match=r"step 'victim'.*killed by SIGKILL"):
        future.result(timeout=60)


def test_describe_exit() -> None:
    assert describe_exit(-signal.SIGSEGV) == "was killed by SIGSEGV"
    assert describe_exit(1) == "exited with code 1 before reporting a result"


def test_parallel_steps_overlap_in_time(executor: ProcessExecutor) -> None:
    futures = [executor.submit(make_task(timed_sleep, name=f"b{i}", seconds=1.5)) for i in range(2)]
    (s1, e1), (s2, e2) = (value_of(f.result(timeout=60)) for f in futures)
    assert max(s1, s2) < min(e1, e2), "the two branches ran one after the other"


def test_max_parallel_one_runs_steps_one_at_a_time() -> None:
    with ProcessExecutor(max_parallel=1, runner=standin_run) as ex:
        futures = [ex.submit(make_task(timed_sleep, name=f"b{i}", seconds=0.3)) for i in range(2)]
        (s1, e1), (s2, e2) = (value_of(f.result(timeout=60)) for f in futures)
    assert min(e1, e2) <= max(s1, s2)


def test_cancel_kills_the_step_and_its_children(each_start: ProcessExecutor, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    future = each_start.submit(make_task(sleep_forever, name="hang", pid_file=str(pid_file)))
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    child, grandchild = map(int, pid_file.read_text().split())
    each_start.cancel(future)
    with pytest.raises(StepLost, match="cancelled"):
        future.result(timeout=10)
    deadline = time.monotonic() + 10
    while not (gone(child) and gone(grandchild)):
        assert time.monotonic() < deadline, "cancel left the step's processes running"
        time.sleep(0.05)


def test_close_kills_running_steps(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    ex = ProcessExecutor(max_parallel=1, runner=standin_run)
    future = ex.submit(make_task(sleep_forever, name="hang", pid_file=str(pid_file)))
    queued = ex.submit(make_task(add, name="never", a=1, b=1))
    while not pid_file.exists():
        time.sleep(0.05)
    child, _ = map(int, pid_file.read_text().split())
    ex.close()
    assert future.done() and queued.done()
    deadline = time.monotonic() + 10
    while not gone(child):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_step_with_requirements_runs_in_its_cached_venv(executor: ProcessExecutor, tmp_path: Path) -> None:
    assert importlib.util.find_spec("inflection") is None, "pick a package that treadle's venv lacks"
    futures = [executor.submit(make_task(in_venv, name=f"v{i}", requirements=[VENV_PACKAGE])) for i in range(2)]
    values = [value_of(f.result(timeout=300)) for f in futures]
    venvs = Path(os.environ["TREADLE_CACHE"]) / "venvs"
    built = [p for p in venvs.iterdir() if p.is_dir()]
    assert built == [venvs / env_key([VENV_PACKAGE])], "two parallel steps must share one venv"
    for value in values:
        assert Path(value["prefix"]) == built[0]
        assert value["inflection"].startswith(str(built[0]))
        assert value["camel"] == "StepRunsHere"
    assert step_python([VENV_PACKAGE]) == built[0] / "bin" / "python"  # reused, not rebuilt
    assert step_python([]) == Path(sys.executable)


def test_uninstallable_requirements_fail_the_step_naming_it(executor: ProcessExecutor) -> None:
    future = executor.submit(make_task(in_venv, name="broken", requirements=["treadle-no-such-package-xyz==9.9"]))
    with pytest.raises(InvalidArgument, match=r"virtualenv for step 'broken'.*treadle-no-such-package-xyz"):
        future.result(timeout=300)
