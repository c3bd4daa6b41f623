"""The child process of the process executor: ``python -m treadle.pipelines._child TASK OUTCOME``.

``TASK`` holds ``cloudpickle.dumps((runner, task))`` (``runner`` None means
:func:`treadle.pipelines._task_run.run_task`); the child runs it and writes the
:class:`~treadle.pipelines._task.StepOutcome` to ``OUTCOME`` (atomically: a missing file means the
child died before it finished). A step that raises is an outcome with ``error`` set, not a failed
process: only a dead child (signal, ``os._exit``, segfault) leaves no outcome behind.

The child watches its parent: when the driver dies, the child exits too instead of running on
orphaned (the pipeline run is then reaped as stale and resumable).

Steps without requirements are usually not started with ``python -m`` but forked from a forkserver
that imported treadle once (:func:`forked`): importing treadle takes seconds, a fork milliseconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

PARENT_POLL_S = 0.5


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(70)  # the driver is gone: nobody will read the outcome


def _execute(task_file: Path, outcome_file: Path) -> None:
    """Run the pickled ``(runner, task)`` and write its outcome; never raises for the step's sake."""
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    import cloudpickle

    from treadle.pipelines._task import StepOutcome

    started = time.perf_counter()
    try:
        runner, task = cloudpickle.loads(task_file.read_bytes())
        if runner is None:
            from treadle.pipelines._task_run import run_task

            runner = run_task
        fn: Callable[[object], StepOutcome] = runner
        outcome = fn(task)
    except BaseException as exc:  # the runner itself failed: report it as the step's error
        outcome = StepOutcome(
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            duration_s=time.perf_counter() - started,
        )
    try:
        payload = cloudpickle.dumps(outcome)
    except Exception as exc:  # an outcome that cannot be pickled is still an answer
        payload = cloudpickle.dumps(StepOutcome(error=f"cannot send the step's outcome back: {exc}"))
    partial = outcome_file.with_name(outcome_file.name + ".part")
    partial.write_bytes(payload)
    os.replace(partial, outcome_file)
    sys.stdout.flush()
    sys.stderr.flush()


def forked(task_file: str, outcome_file: str, log_file: str, cwd: str, paths: list[str], env: dict[str, str]) -> None:
    """The target of a process forked from the executor's forkserver (treadle already imported there):
    become a process group of its own, send its output to ``log_file``, take on the driver's current
    environment, directory and import path, then run the step."""
    os.setsid()
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.path[:0] = [p for p in paths if p not in sys.path]
    _execute(Path(task_file), Path(outcome_file))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m treadle.pipelines._child TASK_FILE OUTCOME_FILE", file=sys.stderr)
        return 2
    _execute(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
