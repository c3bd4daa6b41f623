"""Worker processes that evaluate trials: real parallelism for CPU-bound objectives.

Each worker is a fresh interpreter (``python -m treadle.tuning._worker``), so nothing is forked
mid-flight and a user script without an ``if __name__ == "__main__"`` guard is not re-run. The
objective, sampler and pruner travel once, cloudpickled (functions of ``__main__``, lambdas and
closures included). Frames go over the worker's stdin/stdout pipes; the worker points its own
``sys.stdout`` at stderr so the objective's prints cannot corrupt them. A worker that dies
(crash, ``os._exit``, a signal) shows up as end-of-file: its trial is reported FAIL with the exit
status and a new worker takes its place.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import cloudpickle

from treadle.tracking import Run
from treadle.tuning._trial import Outcome


@dataclass
class Task:
    """One trial for a worker: which trial of the study, its run, and its params when a space is used."""

    trial_id: int
    number: int
    run: Run
    params: dict[str, Any] | None


@dataclass
class WorkerInit:
    uri: str
    artifacts: str | None
    study: str
    payload: bytes  # cloudpickle of (objective, sampler, pruner)
    sys_path: list[str]


class _Worker:
    def __init__(self, init: bytes | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "treadle.tuning._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C reaches the driver, which stops the workers itself
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.tx = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self.rx = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.task: Task | None = None
        if init is not None:
            self.start(init)

    def start(self, init: bytes) -> None:
        with contextlib.suppress(OSError):  # it died already: its first task reports it
            self.tx.send_bytes(init)

    def died(self) -> str:
        code = self.proc.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"the worker process running it was killed by signal {name}"
        return f"the worker process running it exited with status {code}"

    def stop(self, timeout: float = 5.0) -> None:
        for conn in (self.tx, self.rx):
            with contextlib.suppress(OSError):
                conn.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ProcessPool:
    """``n`` worker processes; ``submit`` a task to an idle one, ``wait`` for finished trials.

    The processes start (and import) at once; ``start`` hands them the study when it exists.
    """

    def __init__(self, n: int) -> None:
        self._init: bytes | None = None
        self._workers = [_Worker(None) for _ in range(n)]

    def start(self, init: WorkerInit) -> None:
        self._init = cloudpickle.dumps(init)
        for worker in self._workers:
            worker.start(self._init)

    @property
    def idle(self) -> int:
        return sum(w.task is None for w in self._workers)

    @property
    def busy(self) -> int:
        return len(self._workers) - self.idle

    def submit(self, task: Task) -> None:
        worker = next(w for w in self._workers if w.task is None)
        worker.task = task
        with contextlib.suppress(OSError):  # it died: wait() reports the trial
            worker.tx.send_bytes(pickle.dumps(task))

    def wait(self, timeout: float | None = None) -> list[tuple[Task, Outcome]]:
        busy = {w.rx: w for w in self._workers if w.task is not None}
        done: list[tuple[Task, Outcome]] = []
        for conn in wait(list(busy), timeout):
            worker = busy[conn]  # type: ignore[index]
            task, worker.task = worker.task, None
            assert task is not None
            try:
                outcome: Outcome = pickle.loads(worker.rx.recv_bytes())
            except (EOFError, OSError):
                outcome = Outcome("FAIL", error=f"trial {task.number} did not finish: {worker.died()}")
                worker.stop()
                self._workers[self._workers.index(worker)] = _Worker(self._init)
            done.append((task, outcome))
        return done

    def close(self) -> None:
        for worker in self._workers:
            if worker.task is not None:  # interrupted: do not wait for a long trial
                worker.proc.kill()
            worker.stop()
