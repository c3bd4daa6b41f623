"""``executor="process"``: each step in a fresh child process, up to ``max_parallel`` at once.

A fresh process per step isolates steps from each other and from the driver (memory, globals, a
crash), lets parallel branches use several cores, and lets a step run under another interpreter: a
step with ``requirements`` runs under the Python of a cached virtualenv (:mod:`._envs`).

Each task gets a thread that builds the step's venv if needed, starts the child in its own process
group (so ``cancel`` kills the step and anything it started) and waits for it. The child is forked
from a forkserver that imported treadle once (importing treadle takes seconds; a fork takes
milliseconds), or, for a step venv or ``start="exec"``, ``python -m treadle.pipelines._child``.
The child pickles its :class:`StepOutcome` to a file; a child that exits without one (SIGKILL,
``os._exit``, a segfault) fails the future with :class:`StepLost` saying how it died and what it
printed last.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import cloudpickle

from treadle.errors import TreadleError
from treadle.pipelines._envs import step_python
from treadle.pipelines._forkserver import LOST
from treadle.pipelines._task import StepOutcome, StepTask
from treadle.pipelines.base import Executor

LOG_TAIL = 2000  # characters of a dead child's output worth quoting


class StepLost(TreadleError):
    """The executor lost a step: its process or Ray worker died before reporting an outcome."""

    code = "STEP_LOST"


@dataclass
class _Job:
    task: StepTask
    folder: Path
    future: Future[StepOutcome] = field(default_factory=Future)
    proc: _Child | None = None
    cancelled: bool = False


def user_paths() -> list[str]:
    """The driver's import path minus the interpreter's own and site dirs: where the user's modules
    (the pipeline file's folder, the cwd, a src/ layout) live, so the child imports step functions
    that were pickled by reference — also under a venv's Python, whose own site dirs must win."""
    skip = {os.path.realpath(p) for p in (*site.getsitepackages(), site.getusersitepackages())}
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    found: list[str] = []
    for entry in sys.path:
        path = os.path.realpath(entry or os.getcwd())
        inside = any(path == p or path.startswith(p + os.sep) for p in prefixes)
        if path in skip or inside or path in found or not os.path.isdir(path):
            continue
        found.append(path)
    return found


def describe_exit(code: int) -> str:
    if code == LOST:
        return "was lost: treadle's fork server died"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory, or killed by hand?)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code} before reporting a result"


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-LOG_TAIL:].strip()


class ProcessExecutor(Executor):
    """Steps in child processes, up to ``max_parallel`` (default: the CPU count) at once.

    ``start="forkserver"`` (POSIX default) forks each step from a server process that imported
    treadle once (:mod:`._forkserver`); ``start="exec"`` starts a new interpreter per step
    (seconds slower, nothing shared).
    Steps with requirements always exec their venv's Python. ``runner`` is what the child calls with
    the task (default: ``run_task``)."""

    name: ClassVar[str] = "process"

    def __init__(
        self, max_parallel: int | None = None, *, start: Literal["forkserver", "exec"] | None = None, runner: Any = None
    ) -> None:
        self.max_parallel = max(1, max_parallel or os.cpu_count() or 1)
        self.start = start or ("forkserver" if hasattr(os, "fork") else "exec")
        self._runner = runner
        self._slots = threading.Semaphore(self.max_parallel)
        self._lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}  # id(future) -> job
        self._folder = Path(tempfile.mkdtemp(prefix="treadle-steps-"))
        self._closed = False
        self._count = 0

    def submit(self, task: StepTask) -> Future[StepOutcome]:
        if self._closed:
            raise RuntimeError("the process executor is closed")
        with self._lock:
            self._count += 1
            folder = self._folder / f"{self._count:05d}-{task.step.name}"
            job = _Job(task, folder)
            self._jobs[id(job.future)] = job
        threading.Thread(target=self._run, args=(job,), name=f"treadle-step-{task.step.name}", daemon=True).start()
        return job.future

    def cancel(self, future: Future[StepOutcome]) -> None:
        job = self._jobs.get(id(future))
        if job is None:
            future.cancel()
            return
        with self._lock:
            job.cancelled = True
            proc = job.proc
        if proc is not None:
            _kill_group(proc)
        self._settle(job, StepLost(f"step {job.task.step.name!r} was cancelled"))

    def close(self) -> None:
        self._closed = True
        for job in list(self._jobs.values()):
            if not job.future.done():
                self.cancel(job.future)
        shutil.rmtree(self._folder, ignore_errors=True)

    def _run(self, job: _Job) -> None:
        try:
            with self._slots:
                if not job.cancelled:
                    self._settle(job, self._execute(job))
        except TreadleError as exc:
            self._settle(job, exc)
        except Exception as exc:  # any executor failure must resolve the future
            self._settle(job, StepLost(f"step {job.task.step.name!r} could not run: {type(exc).__name__}: {exc}"))
        finally:
            shutil.rmtree(job.folder, ignore_errors=True)
            with self._lock:
                self._jobs.pop(id(job.future), None)

    def _settle(self, job: _Job, result: StepOutcome | BaseException) -> None:
        with self._lock:
            if job.future.done():
                return
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    def _execute(self, job: _Job) -> StepOutcome | StepLost:
        step = job.task.step
        python = step_python(step.requirements, step=step.name)
        job.folder.mkdir(parents=True)
        task_file, outcome_file, log_file = (
            job.folder / "task.pkl",
            job.folder / "outcome.pkl",
            job.folder / "child.log",
        )
        task_file.write_bytes(cloudpickle.dumps((self._runner, job.task)))
        fork = self.start == "forkserver" and python == Path(sys.executable)
        if job.cancelled:
            return StepLost(f"step {step.name!r} was cancelled")
        # Not under the lock: starting the fork server takes seconds, and cancel() must not wait for it.
        proc = _fork(task_file, outcome_file, log_file) if fork else _spawn(python, task_file, outcome_file, log_file)
        with self._lock:
            job.proc = proc
            cancelled = job.cancelled
        if cancelled:  # cancel() came while it was starting and found no process to kill
            _kill_group(proc)
        code = proc.wait()
        if outcome_file.is_file():
            outcome: StepOutcome = cloudpickle.loads(outcome_file.read_bytes())
            return outcome
        if job.cancelled:
            return StepLost(f"step {step.name!r} was cancelled")
        tail = _tail(log_file)
        return StepLost(
            f"step {step.name!r}: its process (pid {proc.pid}) {describe_exit(code)}"
            + (f"; its last output:\n{tail}" if tail else "")
        )


class _Child(Protocol):
    pid: int

    def wait(self) -> int: ...


def _fork(task_file: Path, outcome_file: Path, log_file: Path) -> _Child:
    from treadle.pipelines._forkserver import fork_step

    request = {
        "task": str(task_file),
        "outcome": str(outcome_file),
        "log": str(log_file),
        "cwd": os.getcwd(),
        "paths": user_paths(),
        "env": dict(os.environ),
    }
    return fork_step(_child_env(Path(sys.executable)), request)


def _spawn(python: Path, task_file: Path, outcome_file: Path, log_file: Path) -> _Child:
    with open(log_file, "wb") as log:
        return subprocess.Popen(
            [str(python), "-m", "treadle.pipelines._child", str(task_file), str(outcome_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(python),
            start_new_session=True,  # its own process group: cancel() kills the step and its children
        )


def _child_env(python: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "__PYVENV_LAUNCHER__")}
    paths = [*user_paths(), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    if Path(python) != Path(sys.executable):  # a step venv: it, not the driver's venv, is the active one
        env["VIRTUAL_ENV"] = str(Path(python).parent.parent)
        env["PYTHONNOUSERSITE"] = "1"
    return env


def _kill_group(proc: _Child) -> None:
    """SIGKILL the step's process group; a forked child killed before its ``setsid`` has none yet."""
    if proc.pid <= 0:  # never started (its fork server died): killpg(0) would kill our own group
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    except PermissionError:
        pass
