"""What the pipeline pages show, worked out from the orchestration records (no HTTP, no templates).

A step's outputs live in the artifacts of the tracked run that produced them: for a CACHED step that
is the original step run (``cached_from``), not the step's own bookkeeping run, so download links
follow ``cached_from`` back to the producer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from markupsafe import Markup

from treadle.errors import NotFound
from treadle.fmt import fmt_duration
from treadle.orchestration import OutputRef, PipelineRunDetail, PipelineSpec, StepRun
from treadle.tracking import run_manifest
from treadle.ui._pipelines_dag import render_dag
from treadle.ui._runs import file_url

if TYPE_CHECKING:
    from treadle.client._backend import Backend

LOG_PATH = "logs/step.log"
MAX_LOG_BYTES = 64 * 1024  # the tail of a step's log shown inline; the whole file is a download away


def run_url(root: str, pipeline_run_id: str) -> str:
    return f"{root}/pipelines/runs/{quote(pipeline_run_id, safe='')}"


def step_anchor(step: str) -> str:
    return "step-" + quote(step, safe="")


def uri_link(root: str, uri: str | None) -> str | None:
    """The page of an output that is a registered dataset or model version (``datasets:/n/3``, ``models:/m/2``)."""
    if not uri:
        return None
    scheme, _, rest = uri.partition(":/")
    parts = rest.strip("/").split("/")
    if len(parts) != 2 or not parts[1].isdigit():
        return None
    name, version = quote(parts[0], safe=""), parts[1]
    if scheme == "datasets":
        return f"{root}/datasets/{name}/{version}"
    if scheme == "models":
        return f"{root}/models/{name}/versions/{version}"
    return None


@dataclass
class OutputRow:
    ref: OutputRef
    link: str | None  # a file download, the run's artifact browser for a folder, or None when gone
    page: str | None  # the dataset/model version page, for outputs that are one


@dataclass
class StepRow:
    run: StepRun
    anchor: str  # the row's id: DAG boxes link to it
    function: str
    duration: str
    run_link: str | None
    cached_link: str | None  # the step run whose outputs a CACHED step reused
    log_url: str | None
    outputs: list[OutputRow] = field(default_factory=list)


def _duration(step: StepRun, now_ms: int) -> str:
    if step.started_at is None:
        return ""
    if step.ended_at is None:
        return fmt_duration(step.started_at, now_ms) + " so far" if step.status == "RUNNING" else ""
    return fmt_duration(step.started_at, step.ended_at)


def _cached_link(root: str, cached_from: str | None) -> str | None:
    if not cached_from or "/" not in cached_from:
        return None
    run_id, step = cached_from.split("/", 1)
    return f"{run_url(root, run_id)}#{step_anchor(step)}"


class StepOutputs:
    """Finds the tracked run holding a step's outputs, and the artifact files of each output."""

    def __init__(self, backend: Backend, root: str) -> None:
        self._backend, self._root = backend, root
        self._details: dict[str, PipelineRunDetail | None] = {}  # cached steps often share one original run

    def producer(self, step: StepRun) -> str | None:
        if not step.cached_from or "/" not in step.cached_from:
            return step.run_id
        run_id, name = step.cached_from.split("/", 1)
        if run_id not in self._details:
            try:
                self._details[run_id] = self._backend.pipelines.get_run_detail(run_id)
            except NotFound:
                self._details[run_id] = None
        detail = self._details[run_id]
        return next((s.run_id for s in detail.steps if s.step == name), None) if detail else None

    def rows(self, step: StepRun) -> list[OutputRow]:
        if not step.outputs:
            return []
        producer = self.producer(step)
        try:
            files = self._backend.tracking.list_artifacts(producer, prefix="outputs/") if producer else []
        except NotFound:  # the producing run was deleted
            producer, files = None, []
        out = []
        for name, ref in step.outputs.items():
            base = f"outputs/{name}"
            mine = [f for f in files if f.path == base or f.path.startswith((base + "/", base + "."))]
            link = None
            if producer and len(mine) == 1:
                link = file_url(self._root, producer, mine[0].path, download=True)
            elif producer and mine:
                link = f"{self._root}/runs/{quote(producer)}?artifact={quote(mine[0].path)}"
            out.append(OutputRow(ref, link, uri_link(self._root, ref.uri)))
        return out


def step_rows(backend: Backend, root: str, detail: PipelineRunDetail) -> list[StepRow]:
    """One row per step, in the spec's order (steps the spec no longer has go last)."""
    functions = {s.name: s.function for s in detail.spec.steps}
    order = {name: i for i, name in enumerate(functions)}
    outputs, now = StepOutputs(backend, root), int(time.time() * 1000)
    rows = []
    for step in sorted(detail.steps, key=lambda s: order.get(s.step, len(order))):
        base = f"{run_url(root, detail.run.id)}/steps/{quote(step.step, safe='')}"
        if step.cached_from and "/" in step.cached_from:  # the log of the run that did the work
            original, name = step.cached_from.split("/", 1)
            base = f"{run_url(root, original)}/steps/{quote(name, safe='')}"
        rows.append(
            StepRow(
                run=step,
                anchor=step_anchor(step.step),
                function=functions.get(step.step, ""),
                duration=_duration(step, now),
                run_link=f"{root}/runs/{quote(step.run_id)}" if step.run_id else None,
                cached_link=_cached_link(root, step.cached_from),
                log_url=f"{base}/log" if step.run_id else None,
                outputs=outputs.rows(step),
            )
        )
    return rows


def run_dag(root: str, detail: PipelineRunDetail) -> Markup:
    """The run's DAG, each box coloured by its step's status and linking to the step's row."""
    statuses = {s.step: s.status for s in detail.steps}
    captions = {s.step: f"{s.status.lower()} · attempt {s.attempt}" for s in detail.steps if s.attempt > 1}
    return render_dag(detail.spec, statuses, captions, link=lambda step: f"#{step_anchor(step)}")


def spec_dag(root: str, spec: PipelineSpec) -> Markup:
    """A pipeline's DAG before any run: boxes caption the step function."""
    return render_dag(spec)


def step_log(backend: Backend, run_id: str) -> tuple[str, bool]:
    """(the tail of a step run's ``logs/step.log``, whether it was cut); NotFound when it has none."""
    entry = backend.artifacts.stat(run_manifest(run_id), LOG_PATH)
    data = backend.blobs.read_bytes(entry.digest)
    cut = len(data) > MAX_LOG_BYTES
    return data[-MAX_LOG_BYTES:].decode("utf-8", errors="replace"), cut
