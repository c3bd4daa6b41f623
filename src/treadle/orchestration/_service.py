"""The pipelines service: registered pipeline specs, pipeline runs, step runs and the step cache.

Runs move QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED, and FAILED / CANCELLED -> RUNNING
again on resume. Every transition is a compare-and-set inside one write transaction (the run row
is locked on PostgreSQL, SQLite's BEGIN IMMEDIATE serialises writers), so when several schedulers
race to ``claim_run`` a queued run exactly one wins and the others get Conflict. A run whose
process dies stops heartbeating; ``reap_stale`` marks it FAILED (not stuck RUNNING) and resumable.
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar

from sqlalchemy import Connection, select, update

from treadle.artifacts import BlobStore
from treadle.errors import Conflict, InvalidArgument
from treadle.events import emit
from treadle.ops import Service, operation
from treadle.orchestration import _lineage as lin
from treadle.orchestration import _store as s
from treadle.orchestration import _tables as t
from treadle.orchestration._records import (
    DONE_STEP,
    TERMINAL_RUN,
    Pipeline,
    PipelineRun,
    PipelineRunDetail,
    PipelineSpec,
    RunStatus,
    TriggerKind,
)
from treadle.orchestration._runs import insert_run
from treadle.orchestration._specs import validate_spec
from treadle.orchestration._steps import StepOps
from treadle.store import Store, dialect_insert, now_ms

RUN_STATUSES: tuple[str, ...] = typing.get_args(RunStatus)
RESUMABLE = frozenset({"FAILED", "CANCELLED"})


class PipelineService(StepOps, Service):
    """Pipelines, their runs and step runs (module docstring); step operations live in ``_steps``."""

    capability: ClassVar[str] = "pipelines"

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs

    # ------------------------------------------------------------------ pipelines
    @operation
    def register_pipeline(self, spec: PipelineSpec) -> Pipeline:
        """Create or update a pipeline by name; each distinct spec is kept by digest, so a run
        always shows the spec it ran."""
        validate_spec(spec)
        stored = spec.model_copy(update={"digest": spec.digest or s.spec_digest(spec)})
        now = now_ms()
        with self._store.write() as conn:
            conn.execute(
                dialect_insert(conn, t.pipelines)
                .values(name=spec.name, spec_digest=stored.digest, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            row = s.pipeline_row(conn, spec.name, lock=True)
            body = stored.model_dump(mode="json")
            upsert = dialect_insert(conn, t.specs).values(
                pipeline_id=row.id, digest=stored.digest, spec=body, created_at=now
            )
            conn.execute(upsert.on_conflict_do_update(index_elements=["pipeline_id", "digest"], set_={"spec": body}))
            conn.execute(
                update(t.pipelines).where(t.pipelines.c.id == row.id).values(spec_digest=stored.digest, updated_at=now)
            )
            lin.pipeline_context(conn, spec.name, stored.digest)
            return s.to_pipeline(conn, s.pipeline_row(conn, spec.name))

    @operation
    def get_pipeline(self, name: str) -> Pipeline:
        """A registered pipeline with its latest spec and last run."""
        with self._store.read() as conn:
            return s.to_pipeline(conn, s.pipeline_row(conn, name))

    @operation
    def list_pipelines(self) -> list[Pipeline]:
        """Every registered pipeline by name, with its last run's id and status."""
        p, sp, r = t.pipelines, t.specs, t.runs
        query = (
            select(p, sp.c.spec, r.c.status.label("last_status"))
            .join(sp, (sp.c.pipeline_id == p.c.id) & (sp.c.digest == p.c.spec_digest))
            .outerjoin(r, r.c.id == p.c.last_run_id)
            .order_by(p.c.name)
            .limit(s.MAX_LIST)
        )
        with self._store.read() as conn:
            return [s.pipeline_record(row, row.spec, row.last_status) for row in conn.execute(query)]

    # ------------------------------------------------------------------ runs
    @operation
    def create_run(
        self,
        pipeline: str,
        params: dict[str, Any] | None = None,
        trigger: TriggerKind = "manual",
        trigger_info: dict[str, Any] | None = None,
        executor: str = "inprocess",
        queued: bool = False,
        run_id: str | None = None,
    ) -> PipelineRun:
        """Start (or queue) a run of the pipeline's current spec: one PENDING step run per step."""
        with self._store.write() as conn:
            pipeline_run_id = insert_run(conn, pipeline, params, trigger, trigger_info, executor, queued, run_id=run_id)
            return s.to_run(s.run_row(conn, pipeline_run_id))

    @operation
    def claim_run(self, pipeline_run_id: str, run_id: str | None = None) -> PipelineRun:
        """QUEUED -> RUNNING for the one caller that gets there first; the others get Conflict."""
        with self._store.write() as conn:
            row = s.run_row(conn, pipeline_run_id, lock=True)
            if row.status != "QUEUED":
                raise Conflict(
                    f"pipeline run {pipeline_run_id} is {row.status}, not QUEUED: it was claimed already"
                    + ("" if row.status != "RUNNING" else " (another scheduler or worker is running it)")
                )
            now = now_ms()
            values: dict[str, Any] = dict(status="RUNNING", started_at=now, heartbeat_at=now)
            if run_id is not None:
                values["run_id"] = run_id
            done = conn.execute(
                update(t.runs).where(t.runs.c.id == pipeline_run_id, t.runs.c.status == "QUEUED").values(**values)
            )
            if done.rowcount != 1:  # lost a race the lock should have prevented; never run it twice
                raise Conflict(f"pipeline run {pipeline_run_id} was claimed by another worker")
            if run_id:
                lin.associate(conn, pipeline_run_id, row.pipeline, run_id, parent=True)
            return s.to_run(s.run_row(conn, pipeline_run_id))

    @operation
    def list_queued(self, limit: int = 10) -> list[PipelineRun]:
        """QUEUED runs, oldest first: what a scheduler launches next."""
        s.check_limit(limit)
        query = s.runs_query().where(t.runs.c.status == "QUEUED").order_by(t.runs.c.seq).limit(limit)
        with self._store.read() as conn:
            return [s.to_run(row) for row in conn.execute(query)]

    @operation
    def heartbeat(self, pipeline_run_id: str) -> None:
        """Say the process running this pipeline run is alive (``reap_stale`` fails silent ones)."""
        with self._store.write() as conn:
            s.run_row(conn, pipeline_run_id)
            conn.execute(update(t.runs).where(t.runs.c.id == pipeline_run_id).values(heartbeat_at=now_ms()))

    @operation
    def finish_run(self, pipeline_run_id: str, status: RunStatus, error: str | None = None) -> PipelineRun:
        """End a run SUCCEEDED, FAILED or CANCELLED; steps still RUNNING fail and PENDING ones are skipped."""
        if status not in TERMINAL_RUN:
            raise InvalidArgument(f"finish_run takes SUCCEEDED, FAILED or CANCELLED, not {status!r}")
        with self._store.write() as conn:
            row = s.run_row(conn, pipeline_run_id, lock=True)
            if row.status in TERMINAL_RUN:
                raise Conflict(f"pipeline run {pipeline_run_id} already ended {row.status}; resume it to run it again")
            return self._end(conn, row, status, error)

    @operation
    def cancel_run(self, pipeline_run_id: str) -> PipelineRun:
        """Cancel a QUEUED or RUNNING run (its engine stops at its next step transition)."""
        with self._store.write() as conn:
            row = s.run_row(conn, pipeline_run_id, lock=True)
            if row.status in TERMINAL_RUN:
                raise Conflict(f"pipeline run {pipeline_run_id} already ended {row.status}; nothing to cancel")
            return self._end(conn, row, "CANCELLED", None, step_error="cancelled while running")

    @operation
    def reap_stale(self, stale_after_s: float = 60.0) -> list[PipelineRun]:
        """Fail RUNNING runs whose heartbeat is older than ``stale_after_s`` (their process died)."""
        if not isinstance(stale_after_s, int | float) or not 0 < stale_after_s < 10**9:
            raise InvalidArgument(f"stale_after_s must be a positive number of seconds, got {stale_after_s!r}")
        cutoff = now_ms() - int(stale_after_s * 1000)
        stale = (t.runs.c.status == "RUNNING") & (t.runs.c.heartbeat_at < cutoff)
        reaped: list[PipelineRun] = []
        with self._store.write() as conn:
            ids = conn.execute(select(t.runs.c.id).where(stale).order_by(t.runs.c.seq).limit(1000)).scalars().all()
            for pipeline_run_id in ids:
                row = s.run_row(conn, pipeline_run_id, lock=True)
                if row.status != "RUNNING" or (row.heartbeat_at or 0) >= cutoff:
                    continue  # it beat again, or another reaper got it
                error = (
                    f"no heartbeat for {stale_after_s:g}s: the process running it stopped; "
                    f"resume it with `treadle pipelines run --resume {pipeline_run_id}`"
                )
                reaped.append(self._end(conn, row, "FAILED", error))
        return reaped

    @operation
    def resume_run(self, pipeline_run_id: str) -> PipelineRun:
        """FAILED or CANCELLED -> RUNNING again: finished steps (SUCCEEDED, CACHED) stay, the rest
        go back to PENDING keeping their attempt counts."""
        with self._store.write() as conn:
            row = s.run_row(conn, pipeline_run_id, lock=True)
            if row.status not in RESUMABLE:
                raise InvalidArgument(
                    f"pipeline run {pipeline_run_id} is {row.status}: only FAILED or CANCELLED runs can be resumed"
                )
            now = now_ms()
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == pipeline_run_id)
                .values(status="RUNNING", attempt=row.attempt + 1, heartbeat_at=now, ended_at=None, error=None)
            )
            st = t.step_runs
            conn.execute(
                update(st)
                .where(st.c.pipeline_run_id == pipeline_run_id, st.c.status.not_in(sorted(DONE_STEP)))
                .values(status="PENDING", error=None, ended_at=None)
            )
            emit(
                conn,
                "pipeline_run_resumed",
                f"pipeline:{row.pipeline}",
                pipeline=row.pipeline,
                pipeline_run_id=pipeline_run_id,
                attempt=row.attempt + 1,
            )
            return s.to_run(s.run_row(conn, pipeline_run_id))

    @operation
    def get_run(self, pipeline_run_id: str) -> PipelineRun:
        """One pipeline run."""
        with self._store.read() as conn:
            return s.to_run(s.run_row(conn, pipeline_run_id))

    @operation
    def get_run_detail(self, pipeline_run_id: str) -> PipelineRunDetail:
        """A run with the spec it ran and its step runs in the spec's order."""
        with self._store.read() as conn:
            row = s.run_row(conn, pipeline_run_id)
            spec = s.spec_of(conn, row.pipeline_id, row.spec_digest)
            steps = [s.to_step(step) for step in s.step_rows(conn, pipeline_run_id)]
            return PipelineRunDetail(run=s.to_run(row), spec=spec, steps=steps)

    @operation
    def list_runs(
        self, pipeline: str | None = None, status: RunStatus | None = None, limit: int = 100
    ) -> list[PipelineRun]:
        """Pipeline runs newest first, optionally of one pipeline and / or in one status."""
        s.check_limit(limit)
        if status is not None and status not in RUN_STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
        query = s.runs_query().order_by(t.runs.c.seq.desc()).limit(limit)
        if status is not None:
            query = query.where(t.runs.c.status == status)
        with self._store.read() as conn:
            if pipeline is not None:
                query = query.where(t.runs.c.pipeline_id == s.pipeline_row(conn, pipeline).id)
            return [s.to_run(row) for row in conn.execute(query)]

    # ------------------------------------------------------------------ helpers
    def _end(
        self, conn: Connection, row: Any, status: str, error: str | None, step_error: str | None = None
    ) -> PipelineRun:
        """Write a terminal status, close the steps left open and emit ``pipeline_run_finished``."""
        now = now_ms()
        conn.execute(update(t.runs).where(t.runs.c.id == row.id).values(status=status, error=error, ended_at=now))
        if status != "SUCCEEDED":
            st = t.step_runs
            open_steps = st.c.pipeline_run_id == row.id
            why = step_error or error or f"the pipeline run ended {status}"
            conn.execute(
                update(st).where(open_steps, st.c.status == "RUNNING").values(status="FAILED", error=why, ended_at=now)
            )
            conn.execute(update(st).where(open_steps, st.c.status == "PENDING").values(status="SKIPPED"))
        emit(
            conn,
            "pipeline_run_finished",
            f"pipeline:{row.pipeline}",
            pipeline=row.pipeline,
            status=status,
            pipeline_run_id=row.id,
            run_id=row.run_id,
        )
        return s.to_run(s.run_row(conn, row.id))
