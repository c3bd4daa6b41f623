"""Row helpers for schedules: rows to records, event matching, the lease (rows stay in ``_store`` modules)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, select, update

from treadle.errors import InvalidArgument, NotFound
from treadle.orchestration import _schedule_tables as t
from treadle.orchestration._records import PipelineSpec, Schedule
from treadle.store import dialect_insert, now_ms

FINISHED = "pipeline_run_finished"
_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}
EVENT_PREFIX = "$event."  # a param value "$event.version" takes the triggering event's payload["version"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def schedule_row(conn: Connection, schedule_id: int) -> Any:
    row = conn.execute(select(t.schedules).where(t.schedules.c.id == schedule_id)).first()
    if row is None:
        raise NotFound(f"schedule {schedule_id} does not exist; list them with `treadle pipelines schedules`")
    return row


def to_schedule(row: Any) -> Schedule:
    return Schedule(
        id=row.id,
        pipeline=row.pipeline,
        kind=row.kind,
        cron=row.cron,
        timezone=row.timezone,
        events=row.events or [],
        filter=row.filter or {},
        upstream=row.upstream,
        params=row.params or {},
        enabled=bool(row.enabled),
        next_at=row.next_at,
        last_fired_at=row.last_fired_at,
        created_at=row.created_at,
    )


def event_kinds(row: Any) -> list[str]:
    """The outbox kinds a schedule listens to (a pipeline-success schedule listens to run finishes)."""
    return [FINISHED] if row.kind == "pipeline" else list(row.events or [])


def event_filter(row: Any) -> dict[str, Any]:
    if row.kind == "pipeline":
        return {"pipeline": row.upstream, "status": "SUCCEEDED"}
    return dict(row.filter or {})


def matches(filter: dict[str, Any], subject: str, payload: dict[str, Any]) -> bool:
    """Every filter key equals the payload's value (``subject`` is the event's subject). Values compare
    as JSON values or as strings, so ``--filter version=3`` matches the integer 3."""
    for key, want in filter.items():
        have = subject if key == "subject" else payload.get(key)
        if have != want and str(have) != str(want):
            return False
    return True


def bind_params(params: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Params with ``"$event.<key>"`` values replaced by the event payload's ``key``."""
    bound = {}
    for name, value in params.items():
        if isinstance(value, str) and value.startswith(EVENT_PREFIX):
            bound[name] = payload.get(value[len(EVENT_PREFIX) :])
        else:
            bound[name] = value
    return bound


def resolve_params(spec: PipelineSpec, params: dict[str, Any]) -> dict[str, Any]:
    """The params a queued run will run with: defaults filled in, and values of the wrong builtin type
    refused now (a webhook caller gets a 400, not a run that fails later). Unknown and missing
    params are the pipelines service's to refuse."""
    resolved = dict(params)
    for p in spec.params:
        if p.name not in resolved:
            if not p.required:
                resolved[p.name] = p.default
            continue
        want, value = _TYPES.get(p.type or ""), resolved[p.name]
        if want is None or value is None:
            continue
        ok = isinstance(value, want) or (want is float and isinstance(value, int))
        if not ok or (want is int and isinstance(value, bool)):
            raise InvalidArgument(
                f"parameter {p.name!r} of pipeline {spec.name!r} is {p.type}, got {type(value).__name__} {value!r}"
            )
    return resolved


def acquire(conn: Connection, name: str, holder: str, ttl_ms: int) -> bool:
    """Take or renew the lease ``name`` if it is free, expired or already ours; True when we hold it."""
    now = now_ms()
    conn.execute(
        dialect_insert(conn, t.leases)
        .values(name=name, holder=holder, expires_at=now + ttl_ms)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    lease = t.leases
    conn.execute(
        update(lease)
        .where(lease.c.name == name, (lease.c.holder == holder) | (lease.c.expires_at < now))
        .values(holder=holder, expires_at=now + ttl_ms)
    )
    return conn.execute(select(lease.c.holder).where(lease.c.name == name)).scalar() == holder
