"""Step-run operations of the pipelines service: start, finish, and the step cache lookup.

A step run goes PENDING -> RUNNING -> SUCCEEDED | FAILED, or straight to CACHED / SKIPPED; a retry
sends it back to PENDING (or starts it again from FAILED). SUCCEEDED and CACHED are final within
a run. Steps move only while their pipeline run is RUNNING, which is how a cancelled or reaped run
stops its engine: the next transition raises Conflict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from treadle.errors import Conflict, InvalidArgument
from treadle.ops import operation
from treadle.orchestration import _lineage as lin
from treadle.orchestration import _store as s
from treadle.orchestration import _tables as t
from treadle.orchestration._records import DONE_STEP, OutputRef, StepRun, StepStatus
from treadle.store import Store, now_ms

FINISH_STATUSES = ("SUCCEEDED", "FAILED", "CACHED", "SKIPPED", "PENDING")


def _running(conn: Connection, pipeline_run_id: str, step: str, action: str) -> Any:
    """The run row (locked), if it is RUNNING: steps move only then."""
    run = s.run_row(conn, pipeline_run_id, lock=True)
    if run.status != "RUNNING":
        raise Conflict(
            f"cannot {action} step {step!r}: pipeline run {pipeline_run_id} is {run.status}, not RUNNING"
            + (" (resume it first)" if run.status in ("FAILED", "CANCELLED") else "")
        )
    return run


_st = t.step_runs
# Values go in as execute parameters, not ``.values()``: a literal None there makes a fresh NullType
# whose cache key SQLAlchemy recomputes on every call (~0.1 ms each, on every step of every pipeline).
_UPDATE_OPEN = (
    update(_st)
    .where(
        _st.c.pipeline_run_id == bindparam("b_run"),
        _st.c.step == bindparam("b_step"),
        _st.c.status.not_in(sorted(DONE_STEP)),
    )
    .returning(*_st.c)
)


_START = _UPDATE_OPEN.values(attempt=_st.c.attempt + 1)


def _update_open(
    conn: Connection, run: Any, step: str, action: str, values: dict[str, Any], stmt: Any = _UPDATE_OPEN
) -> Any:
    """Update a step that is not finished yet and return its new row (one statement when all is
    well: this runs on every step of every pipeline); NotFound / Conflict say what was wrong."""
    row = conn.execute(stmt, {"b_run": run.id, "b_step": step, **values}).first()
    if row is None:
        current = s.step_row(conn, run, step)  # NotFound naming the steps there are
        raise Conflict(f"cannot {action} step {step!r} of pipeline run {run.id}: it is {current.status} already")
    return row


class StepOps:
    """Mixed into :class:`PipelineService`."""

    _store: Store

    @operation
    def start_step(
        self,
        pipeline_run_id: str,
        step: str,
        run_id: str,
        cache_key: str | None = None,
        executor: str | None = None,
        inputs: list[OutputRef] | None = None,
    ) -> StepRun:
        """Mark a step RUNNING in tracked run ``run_id`` (one more attempt), and record its lineage:
        the run joins the pipeline's contexts and reads each input's artifact node."""
        if not isinstance(run_id, str) or not run_id:
            raise InvalidArgument(f"start_step needs the step's tracked run id, got {run_id!r}")
        with self._store.write() as conn:
            run = _running(conn, pipeline_run_id, step, "start")
            values: dict[str, Any] = dict(
                status="RUNNING",
                run_id=run_id,
                started_at=now_ms(),
                ended_at=None,
                error=None,
                outputs={},
                cached_from=None,
            )
            if cache_key is not None:
                values["cache_key"] = cache_key
            if executor is not None:
                values["executor"] = executor
            row = _update_open(conn, run, step, "start", values, _START)  # _START counts the attempt
            run_node = lin.associate(conn, pipeline_run_id, run.pipeline, run_id)
            if inputs:
                lin.record_inputs(conn, pipeline_run_id, run_node, inputs, s.step_rows(conn, pipeline_run_id))
            return s.to_step(row)

    @operation
    def finish_step(
        self,
        pipeline_run_id: str,
        step: str,
        status: StepStatus,
        outputs: dict[str, OutputRef] | None = None,
        error: str | None = None,
        cached_from: str | None = None,
        run_id: str | None = None,
        cache_key: str | None = None,
    ) -> StepRun:
        """End a step SUCCEEDED / FAILED / CACHED (reusing ``cached_from``'s outputs) / SKIPPED, or
        send it back to PENDING for a retry; outputs become artifact nodes the step's run produced."""
        if status not in FINISH_STATUSES:
            raise InvalidArgument(f"finish_step takes {', '.join(FINISH_STATUSES)}, not {status!r}")
        if status == "CACHED" and not cached_from:
            raise InvalidArgument(
                f"step {step!r} is CACHED: say which step run it reused with cached_from='<pipeline_run_id>/<step>'"
            )
        outputs = outputs or {}
        with self._store.write() as conn:
            run = _running(conn, pipeline_run_id, step, "finish")
            now = now_ms()
            values: dict[str, Any] = dict(
                status=status,
                error=error,
                ended_at=None if status == "PENDING" else now,
                outputs={name: ref.model_dump(mode="json") for name, ref in outputs.items()},
                cached_from=cached_from,
            )
            stmt = _UPDATE_OPEN
            if status == "CACHED":
                stmt = _UPDATE_OPEN.values(started_at=func.coalesce(_st.c.started_at, now))
            if run_id is not None:
                values["run_id"] = run_id
            if cache_key is not None:
                values["cache_key"] = cache_key
            row = _update_open(conn, run, step, "finish", values, stmt)
            if status == "CACHED" and run_id is not None:  # a cached step's own tracked run never started
                lin.associate(conn, pipeline_run_id, run.pipeline, run_id)
            if outputs:
                lin.record_outputs(conn, pipeline_run_id, step, row.run_id, outputs)
            return s.to_step(row)

    @operation
    def find_cached(self, cache_key: str) -> StepRun | None:
        """The latest SUCCEEDED step run with this cache key, whose outputs a new run may reuse."""
        if not isinstance(cache_key, str) or not 0 < len(cache_key) <= 128:
            raise InvalidArgument(f"cache_key must be a non-empty string of at most 128 characters, got {cache_key!r}")
        st = t.step_runs
        query = (
            select(st)
            .where(st.c.cache_key == cache_key, st.c.status == "SUCCEEDED")
            .order_by(st.c.ended_at.desc())
            .limit(1)
        )
        with self._store.read() as conn:
            row = conn.execute(query).first()
            return None if row is None else s.to_step(row)
