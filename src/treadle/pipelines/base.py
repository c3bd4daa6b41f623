"""Executors: where a pipeline's steps run.

An executor takes :class:`~treadle.pipelines._task.StepTask` objects and returns futures of
:class:`~treadle.pipelines._task.StepOutcome`. Contract:

- ``submit`` never blocks on the step itself; the engine calls it from one thread.
- The future resolves to a ``StepOutcome`` whether the step succeeded or raised (``error`` set). It
  resolves with an *exception* only when the executor itself lost the step (a killed process, a
  dead Ray worker): the engine then records the step FAILED with that message.
- ``cancel(future)`` stops the step for good (kills its process or Ray task); the engine uses it
  for timeouts. Afterwards the future may resolve with anything; the engine ignores it.
- ``max_parallel`` is how many steps the engine keeps in flight at once.
- ``close()`` releases processes, pools or Ray handles; the executor is not used afterwards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import ClassVar

from treadle.pipelines._task import StepOutcome, StepTask


class Executor(ABC):
    name: ClassVar[str]
    max_parallel: int = 1

    @abstractmethod
    def submit(self, task: StepTask) -> Future[StepOutcome]: ...

    def cancel(self, future: Future[StepOutcome]) -> None:
        future.cancel()

    def close(self) -> None:  # noqa: B027 - most executors hold nothing to release
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
