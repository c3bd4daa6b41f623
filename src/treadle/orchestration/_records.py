"""Records of the pipelines capability: static pipeline specs, pipeline runs, step runs, outputs,
schedules. They cross every boundary (SDK, HTTP, CLI, UI); ORM rows never leave ``_store`` modules."""

from __future__ import annotations

from typing import Any, Literal

from treadle.records import Record

RunStatus = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
# SKIPPED: an upstream step failed, so this one never ran. CACHED: outputs reused from ``cached_from``.
StepStatus = Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CACHED", "SKIPPED"]
TriggerKind = Literal["manual", "cron", "event", "webhook", "pipeline", "resume"]
ScheduleKind = Literal["cron", "event", "pipeline", "webhook"]
TERMINAL_RUN: frozenset[str] = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
DONE_STEP: frozenset[str] = frozenset({"SUCCEEDED", "CACHED"})


class InputBinding(Record):
    """Where one argument of a step comes from."""

    kind: Literal["step", "param", "value"]
    step: str | None = None  # kind="step": the producing step's name ...
    output: str | None = None  # ... and its output name
    param: str | None = None  # kind="param": the pipeline parameter's name
    value: Any = None  # kind="value": a JSON-able constant written in the pipeline body


class StepSpec(Record):
    """One node of a pipeline's static DAG, as traced from the ``@pipeline`` body."""

    name: str  # unique in the pipeline: the function's name, suffixed _2, _3 when called again
    function: str  # "module:qualname" of the step function
    code_digest: str  # sha256 of the step's normalised source: part of the cache key
    inputs: dict[str, InputBinding] = {}
    outputs: list[str] = ["output"]
    input_types: dict[str, str] = {}  # parameter -> annotation, for display and type checks
    output_types: dict[str, str] = {}
    after: list[str] = []  # ordering-only dependencies
    cache: bool = True
    reads_mutable: bool = False  # reads data that may change between runs: never cached
    cache_version: str | None = None
    retries: int = 0
    retry_delay_s: float = 1.0
    backoff: float = 2.0
    timeout_s: float | None = None
    resources: dict[str, float] = {}  # cpus, gpus, memory_mb
    requirements: list[str] = []  # pip requirements: the step runs in a cached virtualenv with them
    doc: str | None = None


class ParamSpec(Record):
    name: str
    type: str | None = None
    default: Any = None
    required: bool = False


class PipelineSpec(Record):
    """A pipeline's static DAG, known before it runs."""

    name: str
    steps: list[StepSpec]  # in a topological order
    params: list[ParamSpec] = []
    output: Any = None  # the body's return value with step outputs as {"$ref": "step.output"}
    source: str | None = None  # "package.module:attr" or "/abs/path/file.py:attr", to import it again
    workdir: str | None = None  # where it was defined (sys.path entry for the scheduler's child)
    doc: str | None = None
    digest: str = ""  # sha256 of everything above but digest, source and workdir


class Pipeline(Record):
    name: str
    spec: PipelineSpec  # the latest registered spec
    created_at: int
    updated_at: int
    last_run_id: str | None = None
    last_status: RunStatus | None = None


class OutputRef(Record):
    """A step output stored in the artifact store."""

    name: str
    kind: str  # materializer: json, pandas, numpy, model, dataset, file, pickle, ...
    digest: str  # sha256 of the stored blob (or of the manifest for a tree)
    size: int
    type: str  # Python type of the value, e.g. "pandas.DataFrame"
    uri: str | None = None  # e.g. "datasets:/iris/3" or "models:/churn/2" when the value is one
    preview: str | None = None  # a short repr for the UI


class StepRun(Record):
    pipeline_run_id: str
    step: str
    status: StepStatus
    attempt: int = 0  # how many times it started (retries and resumes count)
    run_id: str | None = None  # the tracked run of its latest attempt
    cache_key: str | None = None
    cached_from: str | None = None  # "<pipeline_run_id>/<step>" whose outputs were reused
    outputs: dict[str, OutputRef] = {}
    error: str | None = None
    started_at: int | None = None
    ended_at: int | None = None
    executor: str | None = None


class PipelineRun(Record):
    id: str
    pipeline: str
    status: RunStatus
    params: dict[str, Any] = {}
    trigger: TriggerKind = "manual"
    trigger_info: dict[str, Any] = {}
    executor: str = "inprocess"
    run_id: str | None = None  # the tracked parent run; each step's run is nested under it
    spec_digest: str
    attempt: int = 0  # 0, then +1 per resume
    error: str | None = None
    created_at: int
    started_at: int | None = None
    ended_at: int | None = None
    heartbeat_at: int | None = None


class PipelineRunDetail(Record):
    run: PipelineRun
    spec: PipelineSpec  # the spec it ran (by its digest)
    steps: list[StepRun]


class Schedule(Record):
    id: int
    pipeline: str
    kind: ScheduleKind
    cron: str | None = None
    timezone: str = "UTC"
    events: list[str] = []  # event kinds (kind="event")
    filter: dict[str, Any] = {}  # payload/subject equalities an event must match
    upstream: str | None = None  # kind="pipeline": run after this pipeline succeeds
    params: dict[str, Any] = {}
    enabled: bool = True
    next_at: int | None = None  # kind="cron": the next due time (ms)
    last_fired_at: int | None = None
    created_at: int


class ScheduleCreated(Record):
    schedule: Schedule
    token: str | None = None  # kind="webhook": shown once, stored only as a hash
