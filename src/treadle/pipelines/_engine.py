"""The pipeline driver: walks the DAG, hands ready steps to an executor, records every transition.

One driver per pipeline run, on the caller's thread. For each step whose upstream steps are done
it computes the cache key and either reuses a cached result (a CACHED step with its own tracked
run tagged ``treadle.pipeline.cached_from``) or creates a nested tracked run, marks the step
RUNNING and submits a :class:`StepTask`. Outcomes are recorded as they arrive: success, a retry
after ``retry_delay_s * backoff**(n-1)``, or failure, after which dependants are SKIPPED while
independent branches go on. Timeouts cancel the attempt through the executor. A heartbeat thread
keeps the run from being reaped; when the service refuses a transition (the run was cancelled or
reaped) the driver stops its steps and returns.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from treadle.errors import Conflict
from treadle.orchestration._records import DONE_STEP, OutputRef, PipelineRun, PipelineSpec, StepSpec
from treadle.pipelines._cache import cache_key
from treadle.pipelines._dag import dependencies
from treadle.pipelines._task import StepOutcome, StepTask
from treadle.pipelines.base import Executor

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.pipelines._step import Step

HEARTBEAT_S = float(os.environ.get("TREADLE_PIPELINE_HEARTBEAT_S", "10"))
TAG = "treadle.pipeline"


START_POLL_S = 0.05  # how often to look whether a submitted step with a timeout has started


@dataclass
class _Attempt:
    step: StepSpec
    run_id: str
    deadline: float | None  # None: no timeout, or (executors that report starts) not started yet


class _Stopped(Exception):
    """The service refused a transition: the run was cancelled or reaped under us."""


class _Heartbeat:
    def __init__(self, client: Client, pipeline_run_id: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(client, pipeline_run_id), name="treadle-pipeline-heartbeat", daemon=True
        )

    def _beat(self, client: Client, pipeline_run_id: str) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                client.pipelines.heartbeat(pipeline_run_id)
            except Exception:  # a missed beat is retried; the reaper allows several
                continue

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


class Engine:
    def __init__(
        self,
        client: Client,
        spec: PipelineSpec,
        steps: dict[str, Step],
        run: PipelineRun,
        executor: Executor,
        experiment_id: str,
    ) -> None:
        self.client = client
        self.spec = spec
        self.steps = steps
        self.run = run
        self.executor = executor
        self.experiment_id = experiment_id
        self.params = dict(run.params)
        self.outputs: dict[str, dict[str, OutputRef]] = {}
        self.done: set[str] = set()
        self.failed: dict[str, str] = {}
        self.skipped: set[str] = set()
        self.tries: dict[str, int] = {}
        self.not_before: dict[str, float] = {}
        self.inflight: dict[Future[StepOutcome], _Attempt] = {}

    # ------------------------------------------------------------------ the loop
    def execute(self) -> str:
        """Run every step that is not done yet; returns the run's final status."""
        for step_run in self.client.pipelines.get_run_detail(self.run.id).steps:
            if step_run.status in DONE_STEP:
                self.done.add(step_run.step)
                self.outputs[step_run.step] = dict(step_run.outputs)
        try:
            with _Heartbeat(self.client, self.run.id):
                self._loop()
        except _Stopped:
            self._abandon("KILLED")
            return self.client.pipelines.get_run(self.run.id).status
        except BaseException as exc:  # Ctrl-C or a driver bug: leave the run resumable, not RUNNING
            interrupted = isinstance(exc, KeyboardInterrupt)
            self._abandon("KILLED" if interrupted else "FAILED")
            with contextlib.suppress(Exception):
                if interrupted:
                    self.client.pipelines.cancel_run(self.run.id)
                else:
                    why = f"the pipeline driver failed: {type(exc).__name__}: {exc}"
                    self.client.pipelines.finish_run(self.run.id, "FAILED", why)
            if self.run.run_id:
                with contextlib.suppress(Exception):
                    self.client.tracking.end_run(self.run.run_id, "KILLED" if interrupted else "FAILED")
            raise
        status = "SUCCEEDED" if len(self.done) == len(self.spec.steps) else "FAILED"
        error = None
        if self.failed:
            name, why = next(iter(self.failed.items()))
            error = f"step {name!r} failed: {why}"
        try:
            self.client.pipelines.finish_run(self.run.id, status, error)  # type: ignore[arg-type]
        except Conflict:
            return self.client.pipelines.get_run(self.run.id).status
        return status

    def _loop(self) -> None:
        while True:
            self._launch_ready()
            if not self.inflight:
                if not self.not_before:
                    return
                time.sleep(max(0.0, min(self.not_before.values()) - time.monotonic()))
                continue
            self._start_clocks()
            waits = [a.deadline for a in self.inflight.values() if a.deadline is not None]
            waits += list(self.not_before.values())
            if any(a.deadline is None and a.step.timeout_s for a in self.inflight.values()):
                waits.append(time.monotonic() + START_POLL_S)
            timeout = max(0.0, min(waits) - time.monotonic()) if waits else None
            finished, _ = wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in finished:
                attempt = self.inflight.pop(future)
                self._settle(attempt, future)
            now = time.monotonic()
            for future, attempt in list(self.inflight.items()):
                if attempt.deadline is not None and now >= attempt.deadline:
                    del self.inflight[future]
                    self.executor.cancel(future)
                    why = (
                        f"TimeoutError: step {attempt.step.name!r} ran past its timeout of {attempt.step.timeout_s:g}s"
                    )
                    self._failed_attempt(attempt, why)

    def _start_clocks(self) -> None:
        """Timeouts count from when a step starts: executors that say so (``reports_start``) mark
        the future running once a slot, process or venv is ready; others count from submission."""
        now = time.monotonic()
        for future, attempt in self.inflight.items():
            if attempt.deadline is None and attempt.step.timeout_s and (future.running() or future.done()):
                attempt.deadline = now + attempt.step.timeout_s

    def _launch_ready(self) -> None:
        running = {a.step.name for a in self.inflight.values()}
        now = time.monotonic()
        for step in self.spec.steps:
            name = step.name
            if name in self.done or name in self.failed or name in self.skipped or name in running:
                continue
            deps = dependencies(step)
            broken = sorted(d for d in deps if d in self.failed or d in self.skipped)
            if broken:
                self._transition(name, "SKIPPED", error=f"upstream step {broken[0]!r} did not succeed")
                self.skipped.add(name)
                continue
            if not deps <= self.done or self.not_before.get(name, 0.0) > now:
                continue
            if len(self.inflight) >= self.executor.max_parallel:
                return
            self.not_before.pop(name, None)
            self._launch(step)
            running.add(name)

    # ------------------------------------------------------------------ one step
    def _launch(self, step: StepSpec) -> None:
        values: dict[str, Any] = {}
        inputs: dict[str, OutputRef] = {}
        for arg, b in step.inputs.items():
            if b.kind == "step":
                inputs[arg] = self.outputs[b.step or ""][b.output or ""]
            elif b.kind == "param":
                values[arg] = self.params.get(b.param or "")
            else:
                values[arg] = b.value
        key = cache_key(step, values, inputs)
        first = step.name not in self.tries
        self.tries[step.name] = self.tries.get(step.name, 0) + 1
        tags = {TAG: self.spec.name, f"{TAG}.run": self.run.id, f"{TAG}.step": step.name}
        if key is not None and first:
            hit = self.client.pipelines.find_cached(key)
            if hit is not None and all(o in hit.outputs for o in step.outputs):
                origin = hit.cached_from or f"{hit.pipeline_run_id}/{hit.step}"
                tracked = self._tracked(step.name, {**tags, f"{TAG}.cached_from": origin})
                self.client.tracking.end_run(tracked, "FINISHED")
                self._transition(
                    step.name, "CACHED", outputs=dict(hit.outputs), cached_from=origin, run_id=tracked, cache_key=key
                )
                self.done.add(step.name)
                self.outputs[step.name] = dict(hit.outputs)
                return
        fn = self.steps.get(step.name)
        if fn is None:
            raise Conflict(
                f"step {step.name!r} of pipeline {self.spec.name!r} is not in the current code: cannot run it"
            )
        tracked = self._tracked(step.name, {**tags, f"{TAG}.attempt": str(self.tries[step.name])})
        try:
            self.client.pipelines.start_step(
                self.run.id,
                step.name,
                tracked,
                cache_key=key,
                executor=self.executor.name,
                inputs=list(inputs.values()),
            )
        except Conflict as exc:
            self.client.tracking.end_run(tracked, "KILLED")
            raise _Stopped(str(exc)) from exc
        task = StepTask(
            pipeline_run_id=self.run.id,
            step=step,
            function=fn.pickled(),
            inputs=inputs,
            values=values,
            run_id=tracked,
            uri=self.client.uri,
            artifacts=self.client.artifacts_root,
            attempt=self.tries[step.name],
            experiment_id=self.experiment_id,
        )
        future = self.executor.submit(task)
        deadline = None
        if step.timeout_s and not getattr(self.executor, "reports_start", False):
            deadline = time.monotonic() + step.timeout_s
        self.inflight[future] = _Attempt(step, tracked, deadline)

    def _tracked(self, name: str, tags: dict[str, str]) -> str:
        run = self.client.tracking.create_run(self.experiment_id, name=name, parent_id=self.run.run_id, tags=tags)
        return run.id

    def _settle(self, attempt: _Attempt, future: Future[StepOutcome]) -> None:
        try:
            outcome = future.result()
        except BaseException as exc:  # the executor lost the step (a killed process, a dead worker)
            self._failed_attempt(attempt, f"{type(exc).__name__}: {exc}")
            return
        if outcome.error is not None:
            self._failed_attempt(attempt, outcome.error)
            return
        name = attempt.step.name
        self.client.tracking.end_run(attempt.run_id, "FINISHED")
        self._transition(name, "SUCCEEDED", outputs=outcome.outputs, run_id=attempt.run_id)
        self.done.add(name)
        self.outputs[name] = dict(outcome.outputs)

    def _failed_attempt(self, attempt: _Attempt, error: str) -> None:
        step = attempt.step
        self.client.tracking.end_run(attempt.run_id, "FAILED")
        tries = self.tries[step.name]
        if tries <= step.retries:
            delay = step.retry_delay_s * step.backoff ** (tries - 1)
            self._transition(step.name, "PENDING", error=f"attempt {tries} failed, retrying in {delay:g}s: {error}")
            self.not_before[step.name] = time.monotonic() + delay
            return
        suffix = f" (after {tries} attempts)" if tries > 1 else ""
        self._transition(step.name, "FAILED", error=error + suffix, run_id=attempt.run_id)
        self.failed[step.name] = error + suffix

    def _transition(self, step: str, status: str, **fields: Any) -> None:
        try:
            self.client.pipelines.finish_step(self.run.id, step, status, **fields)  # type: ignore[arg-type]
        except Conflict as exc:
            raise _Stopped(str(exc)) from exc

    def _abandon(self, status: str) -> None:
        """Stop steps still in flight and end their tracked runs (the pipeline run is ended elsewhere)."""
        for future, attempt in list(self.inflight.items()):
            self.executor.cancel(future)
            with contextlib.suppress(Exception):  # best effort while stopping
                self.client.tracking.end_run(attempt.run_id, status)  # type: ignore[arg-type]
        self.inflight.clear()
