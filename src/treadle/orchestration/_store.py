"""Row helpers for the pipelines service (rows never leave the ``_store`` modules)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from sqlalchemy import Connection, Select, select

from treadle.errors import InvalidArgument, NotFound
from treadle.orchestration import _tables as t
from treadle.orchestration._records import OutputRef, Pipeline, PipelineRun, PipelineSpec, StepRun

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_LIST = 10_000


def spec_digest(spec: PipelineSpec) -> str:
    """sha256 of the canonical spec JSON without digest, source and workdir (where it lives is not what it is)."""
    body = spec.model_dump(mode="json", exclude={"digest", "source", "workdir"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def pipeline_row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = select(t.pipelines).where(t.pipelines.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(
            f"pipeline {name!r} is not registered; run it once (`treadle pipelines run module:{name}`) "
            "or call register_pipeline(spec)"
        )
    return row


def spec_of(conn: Connection, pipeline_id: int, digest: str) -> PipelineSpec:
    row = conn.execute(
        select(t.specs.c.spec).where(t.specs.c.pipeline_id == pipeline_id, t.specs.c.digest == digest)
    ).first()
    if row is None:  # only a hand-edited database gets here
        raise NotFound(f"spec {digest[:12]} of pipeline id {pipeline_id} is missing")
    return PipelineSpec.model_validate(row.spec)


def to_pipeline(conn: Connection, row: Any) -> Pipeline:
    last_status = None
    if row.last_run_id is not None:
        last_status = conn.execute(select(t.runs.c.status).where(t.runs.c.id == row.last_run_id)).scalar()
    return pipeline_record(row, spec_of(conn, row.id, row.spec_digest), last_status)


def pipeline_record(row: Any, spec: PipelineSpec | dict[str, Any], last_status: str | None) -> Pipeline:
    return Pipeline(
        name=row.name,
        spec=spec if isinstance(spec, PipelineSpec) else PipelineSpec.model_validate(spec),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_run_id=row.last_run_id,
        last_status=last_status,  # type: ignore[arg-type]
    )


def runs_query() -> Select[Any]:
    """Run rows with their pipeline's name (``.pipeline``)."""
    return select(t.runs, t.pipelines.c.name.label("pipeline")).join(
        t.pipelines, t.pipelines.c.id == t.runs.c.pipeline_id
    )


def run_row(conn: Connection, pipeline_run_id: str, *, lock: bool = False) -> Any:
    if not isinstance(pipeline_run_id, str) or not _RUN_ID.match(pipeline_run_id):
        raise NotFound(f"pipeline run {pipeline_run_id!r} does not exist (ids are 32 hex characters)")
    query = runs_query().where(t.runs.c.id == pipeline_run_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=t.runs)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"pipeline run {pipeline_run_id!r} does not exist; list runs with `treadle pipelines list`")
    return row


def to_run(row: Any) -> PipelineRun:
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        status=row.status,
        params=row.params or {},
        trigger=row.trigger,
        trigger_info=row.trigger_info or {},
        executor=row.executor,
        run_id=row.run_id,
        spec_digest=row.spec_digest,
        attempt=row.attempt,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        heartbeat_at=row.heartbeat_at,
    )


def step_row(conn: Connection, run: Any, step: str) -> Any:
    s = t.step_runs
    row = conn.execute(select(s).where(s.c.pipeline_run_id == run.id, s.c.step == step)).first()
    if row is None:
        names = conn.execute(select(s.c.step).where(s.c.pipeline_run_id == run.id).order_by(s.c.position)).scalars()
        raise NotFound(
            f"pipeline run {run.id} of {run.pipeline!r} has no step {step!r} (steps: {', '.join(names) or 'none'})"
        )
    return row


def step_rows(conn: Connection, pipeline_run_id: str) -> list[Any]:
    s = t.step_runs
    return list(conn.execute(select(s).where(s.c.pipeline_run_id == pipeline_run_id).order_by(s.c.position)))


def to_step(row: Any) -> StepRun:
    return StepRun(
        pipeline_run_id=row.pipeline_run_id,
        step=row.step,
        status=row.status,
        attempt=row.attempt,
        run_id=row.run_id,
        cache_key=row.cache_key,
        cached_from=row.cached_from,
        outputs={k: OutputRef.model_validate(v) for k, v in (row.outputs or {}).items()},
        error=row.error,
        started_at=row.started_at,
        ended_at=row.ended_at,
        executor=row.executor,
    )


def check_limit(limit: int) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIST}, got {limit!r}")
