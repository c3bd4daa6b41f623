"""What the engine hands an executor (a :class:`StepTask`) and what it gets back (a :class:`StepOutcome`).

Both are plain picklable dataclasses: executors ship them to a thread, a child process (possibly
another interpreter in a step's own virtualenv) or a Ray task, where :func:`run_task` runs the step
against the same backend (``uri``/``artifacts``) the driver uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from treadle.orchestration._records import OutputRef, StepSpec


@dataclass(frozen=True)
class StepTask:
    pipeline_run_id: str
    step: StepSpec
    function: bytes  # cloudpickle of the undecorated step function
    inputs: dict[str, OutputRef]  # argument -> an upstream step's stored output
    values: dict[str, Any]  # argument -> a pipeline parameter's value or a constant
    run_id: str  # the step's tracked run (already RUNNING; the driver ends it)
    uri: str  # the backend the driver uses (TREADLE_URI) ...
    artifacts: str  # ... and its blob store (TREADLE_ARTIFACTS)
    attempt: int = 1
    experiment_id: str | None = None


@dataclass(frozen=True)
class StepOutcome:
    outputs: dict[str, OutputRef] = field(default_factory=dict)
    error: str | None = None  # "ValueError: bad input" when the step raised
    traceback: str | None = None
    log: str = ""  # what the step printed (stdout + stderr + logging), tail-limited
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None
