"""Creating pipeline runs: a plain function so the schedules service can queue a run inside the
same transaction that records a schedule's fire (one fire, one run, even across restarts)."""

from __future__ import annotations

import typing
import uuid
from typing import Any

from sqlalchemy import Connection, insert, update

from treadle.errors import InvalidArgument
from treadle.events import emit
from treadle.orchestration import _lineage as lin
from treadle.orchestration import _store as s
from treadle.orchestration import _tables as t
from treadle.orchestration._records import TriggerKind
from treadle.orchestration._specs import check_params
from treadle.store import now_ms

TRIGGERS: tuple[str, ...] = typing.get_args(TriggerKind)


def insert_run(
    conn: Connection,
    pipeline: str,
    params: dict[str, Any] | None = None,
    trigger: str = "manual",
    trigger_info: dict[str, Any] | None = None,
    executor: str = "inprocess",
    queued: bool = False,
    *,
    run_id: str | None = None,
) -> str:
    """Insert a run of ``pipeline``'s current spec in the caller's transaction and return its id.

    RUNNING (or QUEUED when ``queued``) with one PENDING step run per step, a lineage context and a
    ``pipeline_run_started`` event. ``run_id`` is the tracked parent run, when already made."""
    params = {} if params is None else params
    trigger_info = {} if trigger_info is None else trigger_info
    if trigger not in TRIGGERS:
        raise InvalidArgument(f"trigger must be one of {', '.join(TRIGGERS)}, not {trigger!r}")
    if not isinstance(executor, str) or not 0 < len(executor) <= 64:
        raise InvalidArgument(f"executor must be a name such as 'inprocess', 'process' or 'ray', not {executor!r}")
    if not isinstance(trigger_info, dict):
        raise InvalidArgument("trigger_info must be a mapping")
    row = s.pipeline_row(conn, pipeline)
    spec = s.spec_of(conn, row.id, row.spec_digest)
    check_params(spec, params)
    pipeline_run_id = uuid.uuid4().hex
    now = now_ms()
    status = "QUEUED" if queued else "RUNNING"
    conn.execute(
        insert(t.runs),
        dict(
            id=pipeline_run_id,
            pipeline_id=row.id,
            spec_digest=row.spec_digest,
            status=status,
            params=params,
            trigger=trigger,
            trigger_info=trigger_info,
            executor=executor,
            run_id=run_id,
            attempt=0,
            created_at=now,
            started_at=None if queued else now,
            heartbeat_at=now,
        ),
    )
    if spec.steps:
        conn.execute(
            insert(t.step_runs),
            [
                {"pipeline_run_id": pipeline_run_id, "step": step.name, "position": i}
                | {"status": "PENDING", "attempt": 0, "outputs": {}}
                for i, step in enumerate(spec.steps)
            ],
        )
    conn.execute(update(t.pipelines).where(t.pipelines.c.id == row.id).values(last_run_id=pipeline_run_id))
    lin.run_context(conn, pipeline_run_id, pipeline)
    if run_id:
        lin.associate(conn, pipeline_run_id, pipeline, run_id, parent=True)
    emit(
        conn,
        "pipeline_run_started",
        f"pipeline:{pipeline}",
        pipeline=pipeline,
        pipeline_run_id=pipeline_run_id,
        status=status,
        trigger=trigger,
    )
    return pipeline_run_id
