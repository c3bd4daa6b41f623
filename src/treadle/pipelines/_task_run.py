"""``run_task``: run one step attempt in this process; every executor ends up calling it.

It attaches to the driver's backend (``task.uri``/``task.artifacts``), makes the step's tracked run
the active fluent run (so ``td.log_metric`` inside the step lands there; the driver ends the run),
loads the inputs, calls the function, stores the outputs and the captured output as artifacts of
the step run in one transaction, and reports a :class:`StepOutcome`. A step that raises is an
outcome with ``error`` set, never an exception: only a lost process is an executor error.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO

from treadle.orchestration._records import OutputRef, StepSpec
from treadle.pipelines._materialize import OutputError, load_output, save_output
from treadle.pipelines._task import StepOutcome, StepTask
from treadle.tracking import ArtifactIn

LOG_LIMIT = 1 << 20  # bytes of a step's output kept in logs/step.log
OUTCOME_LOG_LIMIT = 64 << 10  # characters sent back in the outcome

_FUNCTIONS: dict[bytes, Callable[..., Any]] = {}
_CLIENTS: dict[tuple[int, str, str], Any] = {}
_FUNCTIONS_LOCK = threading.Lock()


def remember_function(pickled: bytes, fn: Callable[..., Any]) -> None:
    """Let an in-process ``run_task`` call the live function instead of unpickling a copy (a copy by
    value would see a snapshot of its module's globals)."""
    with _FUNCTIONS_LOCK:
        if len(_FUNCTIONS) > 4096:
            _FUNCTIONS.clear()
        _FUNCTIONS[pickled] = fn


def _function(pickled: bytes) -> Callable[..., Any]:
    fn = _FUNCTIONS.get(pickled)
    if fn is None:
        import cloudpickle

        fn = cloudpickle.loads(pickled)
    return fn


_local = threading.local()  # .sink: the StringIO of the step running on this thread
_install_lock = threading.Lock()
_installed = 0


class _Dispatch(io.TextIOBase):
    """Stands in for sys.stdout/stderr while steps run: text written on a step's thread also goes
    to that step's log; everything still reaches the real stream. Per thread, so parallel or
    abandoned (timed-out) in-process steps never capture each other's output."""

    def __init__(self, original: TextIO) -> None:
        self.original = original

    def write(self, text: str) -> int:
        sink = getattr(_local, "sink", None)
        if sink is not None:
            sink.write(text)
        with contextlib.suppress(OSError, ValueError):
            self.original.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.original.flush()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")

    def isatty(self) -> bool:
        return False


class _ThreadFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread


class _Capture:
    """stdout, stderr and logging records of the step on this thread, still echoed as usual."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self._handler = logging.StreamHandler(self.buffer)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._handler.addFilter(_ThreadFilter())

    def __enter__(self) -> _Capture:
        global _installed
        with _install_lock:
            if not isinstance(sys.stdout, _Dispatch):
                sys.stdout = _Dispatch(sys.stdout)
            if not isinstance(sys.stderr, _Dispatch):
                sys.stderr = _Dispatch(sys.stderr)
            _installed += 1
        self._saved = getattr(_local, "sink", None)
        _local.sink = self.buffer
        logging.getLogger().addHandler(self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        global _installed
        logging.getLogger().removeHandler(self._handler)
        _local.sink = self._saved
        with _install_lock:
            _installed -= 1
            if _installed == 0:  # the last step out puts the real streams back
                for attr in ("stdout", "stderr"):
                    stream = getattr(sys, attr)
                    if isinstance(stream, _Dispatch):
                        setattr(sys, attr, stream.original)

    def text(self) -> str:
        return self.buffer.getvalue()


def split_outputs(step: StepSpec, result: Any) -> dict[str, Any]:
    """The function's return value by output name (a tuple, list or dict for several outputs)."""
    if len(step.outputs) == 1:
        return {step.outputs[0]: result}
    if isinstance(result, dict) and set(result) == set(step.outputs):
        return dict(result)
    if isinstance(result, (tuple, list)) and len(result) == len(step.outputs):
        return dict(zip(step.outputs, result, strict=True))
    raise OutputError(
        f"step {step.name!r} declares outputs {tuple(step.outputs)} but returned "
        f"{type(result).__name__}{'' if not isinstance(result, (tuple, list)) else f' of {len(result)}'}; "
        f"return a tuple of {len(step.outputs)} values"
    )


def run_task(task: StepTask) -> StepOutcome:
    """Run one attempt of ``task.step`` here and report how it went."""
    from treadle.client import Client
    from treadle.client._fluent import attached_run

    started = time.perf_counter()
    key = (os.getpid(), task.uri, task.artifacts)  # a forked child builds its own
    client = _CLIENTS.get(key)
    if client is None:  # one per backend per process: building a Client reads the settings
        client = _CLIENTS[key] = Client(task.uri, task.artifacts)
    outputs: dict[str, OutputRef] = {}
    files: list[ArtifactIn] = []
    error: str | None = None
    trace: str | None = None
    with _Capture() as capture:
        try:
            fn = _function(task.function)
            kwargs = dict(task.values)
            for arg, ref in task.inputs.items():
                kwargs[arg] = load_output(client, ref)
            with attached_run(task.run_id, client, task.experiment_id):
                result = fn(**kwargs)
            for name, value in split_outputs(task.step, result).items():
                saved = save_output(client, task.step.name, name, value)
                outputs[name] = saved.ref
                files.extend(saved.files)
        except (Exception, SystemExit) as exc:  # the step's failure is its outcome, not ours
            error = f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
            print(trace, file=sys.stderr)
    log = capture.text()
    data = log.encode("utf-8", errors="replace")[-LOG_LIMIT:]
    try:
        if data:  # a silent step has no log file
            info = client.blobs.put_bytes(data)
            files.append(ArtifactIn(path="logs/step.log", digest=info.digest, size=info.size))
        if files:
            client.tracking.add_artifacts(task.run_id, files)
    except Exception as exc:  # outputs that cannot be recorded are not outputs
        if error is None:
            error = f"cannot record the outputs of step {task.step.name!r}: {type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
    return StepOutcome(
        outputs=outputs if error is None else {},
        error=error,
        traceback=trace,
        log=log[-OUTCOME_LOG_LIMIT:],
        duration_s=time.perf_counter() - started,
    )
