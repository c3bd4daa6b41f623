"""Starting, resuming and claiming pipeline runs around the :class:`Engine`.

Every start registers the spec (so the run shows the spec it ran), opens the tracked parent run
(experiment ``pipelines`` unless the pipeline names one) and the pipeline run, then drives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from treadle.errors import Conflict, InvalidArgument
from treadle.orchestration._records import PipelineRun, PipelineSpec
from treadle.pipelines._dag import check_spec, resolve_params
from treadle.pipelines._engine import TAG, Engine
from treadle.pipelines._executors import make_executor
from treadle.pipelines._result import PipelineFailed, PipelineResult
from treadle.pipelines._trace import is_json
from treadle.pipelines.base import Executor

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.pipelines._pipeline import Pipeline

DEFAULT_EXPERIMENT = "pipelines"


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    from treadle.client import get_client

    return get_client()


def _drive(
    client: Client,
    pipeline: Pipeline,
    spec: PipelineSpec,
    run: PipelineRun,
    executor: Executor,
    experiment_id: str,
    owned: bool,
    raise_on_failure: bool,
) -> PipelineResult:
    try:
        status = Engine(client, spec, pipeline.steps, run, executor, experiment_id).execute()
    finally:
        if owned:
            executor.close()
    if run.run_id:
        tracked = {"SUCCEEDED": "FINISHED", "FAILED": "FAILED"}.get(status, "KILLED")
        client.tracking.end_run(run.run_id, tracked)  # type: ignore[arg-type]
    result = PipelineResult(client, client.pipelines.get_run_detail(run.id))
    if result.status != "SUCCEEDED" and raise_on_failure:
        raise PipelineFailed(result)
    return result


def _experiment(client: Client, pipeline: Pipeline) -> str:
    return client.get_or_create_experiment(pipeline.experiment or DEFAULT_EXPERIMENT).id


def _parent(client: Client, experiment_id: str, spec: PipelineSpec, params: dict[str, Any], trigger: str) -> str:
    tracked = client.tracking.create_run(
        experiment_id, name=spec.name, tags={TAG: spec.name, f"{TAG}.trigger": trigger}
    )
    if params:
        client.log_batch(tracked.id, params=params)
    return tracked.id


def start(
    pipeline: Pipeline,
    params: dict[str, Any],
    *,
    executor: str | Executor | None,
    max_parallel: int | None,
    raise_on_failure: bool,
    client: Client | None,
) -> PipelineResult:
    """A new run of ``pipeline`` with ``params``: everything is validated before anything is written."""
    client = _client(client)
    spec = check_spec(pipeline.spec)
    resolved = resolve_params(spec, params)
    for key, value in resolved.items():
        if not is_json(value):
            raise InvalidArgument(
                f"parameter {key!r} of pipeline {spec.name!r} is a {type(value).__name__}: parameters are stored "
                "as JSON (numbers, strings, lists, dicts); pass data through a step instead"
            )
    ex = make_executor(executor or pipeline.executor, max_parallel)
    owned = not isinstance(executor, Executor)
    try:
        client.pipelines.register_pipeline(spec)
        experiment_id = _experiment(client, pipeline)
        parent = _parent(client, experiment_id, spec, resolved, "manual")
        run = client.pipelines.create_run(spec.name, resolved, executor=ex.name, run_id=parent)
    except BaseException:
        if owned:
            ex.close()
        raise
    return _drive(client, pipeline, spec, run, ex, experiment_id, owned, raise_on_failure)


def resume(
    pipeline: Pipeline,
    pipeline_run_id: str,
    *,
    executor: str | Executor | None,
    max_parallel: int | None,
    raise_on_failure: bool,
    client: Client | None,
) -> PipelineResult:
    """Run a FAILED or CANCELLED run again from its unfinished steps (done steps keep their outputs)."""
    client = _client(client)
    detail = client.pipelines.get_run_detail(pipeline_run_id)
    if detail.run.pipeline != pipeline.name:
        raise InvalidArgument(
            f"pipeline run {pipeline_run_id} belongs to pipeline {detail.run.pipeline!r}, not {pipeline.name!r}"
        )
    spec = check_spec(detail.spec)
    recorded = "" if detail.run.executor == "default" else detail.run.executor  # queued: the pipeline's own
    ex = make_executor(executor or recorded or pipeline.executor, max_parallel)
    owned = not isinstance(executor, Executor)
    try:
        run = client.pipelines.resume_run(pipeline_run_id)
        experiment_id = _experiment(client, pipeline)
        if run.run_id:
            experiment_id = client.tracking.update_run(run.run_id, status="RUNNING").experiment_id
    except BaseException:
        if owned:
            ex.close()
        raise
    return _drive(client, pipeline, spec, run, ex, experiment_id, owned, raise_on_failure)


def run_queued(pipeline_run_id: str, client: Client | None = None, raise_on_failure: bool = False) -> PipelineResult:
    """Claim a QUEUED run (Conflict if someone else did) and run it with its params and executor.

    The scheduler's child process calls this; the pipeline is imported from the spec's ``source``.
    """
    from treadle.pipelines._load import load_pipeline

    client = _client(client)
    detail = client.pipelines.get_run_detail(pipeline_run_id)
    if detail.run.status != "QUEUED":
        raise Conflict(f"pipeline run {pipeline_run_id} is {detail.run.status}, not QUEUED")
    if not detail.spec.source:
        raise InvalidArgument(
            f"pipeline {detail.spec.name!r} was registered without a source, so run {pipeline_run_id} cannot be "
            "imported; register it with `treadle pipelines run module:attr` or load_pipeline()"
        )
    pipeline = load_pipeline(detail.spec.source)
    spec = check_spec(detail.spec)
    # "default": queued by a schedule or webhook, which leave the choice to the pipeline's own @pipeline(executor=)
    chosen = detail.run.executor
    ex = make_executor(pipeline.executor if chosen in ("", "default") else chosen, None)
    try:
        experiment_id = _experiment(client, pipeline)
        parent = _parent(client, experiment_id, spec, detail.run.params, detail.run.trigger)
        try:
            run = client.pipelines.claim_run(pipeline_run_id, run_id=parent)
        except Conflict:
            client.tracking.delete_run(parent)
            raise
        # Runs queued through the service directly may lack defaults: fill them in as flow.run() does.
        run = run.model_copy(update={"params": resolve_params(spec, run.params)})
    except BaseException:
        ex.close()
        raise
    return _drive(client, pipeline, spec, run, ex, experiment_id, True, raise_on_failure)
