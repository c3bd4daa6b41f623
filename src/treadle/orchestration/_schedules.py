"""The schedules service: cron, event, pipeline-success and webhook triggers, fires, the scheduler lease.

A trigger never runs a pipeline itself: a *fire* queues a pipeline run (status QUEUED) and the
scheduler loop (:class:`treadle.pipelines.Scheduler`) starts queued runs. Every fire has a key —
the cron slot's time, ``event:<outbox id>``, or a webhook request's idempotency key — and the
(schedule, key) row is written in the same transaction as the queued run, so a restarted or a
second scheduler that fires the same slot or event again queues nothing. The scheduler's decisions
(which cron slots are due, which outbox events match) are operations here, so ``treadle scheduler``
works the same against a database and against a server.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any, ClassVar

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from treadle.errors import Conflict, Forbidden, InvalidArgument, NotFound, TreadleError, Unauthorized
from treadle.events import EventService, latest_event_id
from treadle.ops import Service, operation
from treadle.orchestration import _cron as cron_
from treadle.orchestration import _schedule_store as s
from treadle.orchestration import _schedule_tables as t
from treadle.orchestration._records import PipelineRun, Schedule, ScheduleCreated, ScheduleKind, TriggerKind
from treadle.orchestration._runs import insert_run
from treadle.orchestration._schedule_checks import check_events, check_fields, check_no_cycle, check_param_names
from treadle.orchestration._store import pipeline_row, run_row, spec_of, to_run
from treadle.store import Store, now_ms

log = logging.getLogger("treadle.schedules")
MAX_FIRE_KEY = 256
# What a queued run can name: the scheduler's child makes one of these (treadle.pipelines.EXECUTORS).
QUEUED_EXECUTORS = ("default", "inprocess", "process", "ray")
MAX_TIME_MS = 253_402_214_400_000  # 9999-12-31: croniter and datetime stop there


class ScheduleService(Service):
    """Triggers of pipelines and the scheduler's bookkeeping (module docstring)."""

    capability: ClassVar[str] = "schedules"

    def __init__(self, store: Store) -> None:
        self._store = store
        self._events = EventService(store)

    # ------------------------------------------------------------------ schedules
    @operation
    def create_schedule(
        self,
        pipeline: str,
        kind: ScheduleKind,
        cron: str | None = None,
        timezone: str = "UTC",
        events: list[str] | None = None,
        filter: dict[str, Any] | None = None,
        upstream: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> ScheduleCreated:
        """Add a trigger to a registered pipeline: ``cron`` (a 5-field expression in ``timezone``),
        ``event`` (outbox ``events`` whose payload matches ``filter``), ``pipeline`` (after ``upstream``
        succeeds) or ``webhook`` (the answer carries its token, shown only here). ``params`` are the
        run's parameters; a value ``"$event.<key>"`` takes the triggering event's payload value."""
        check_fields(kind, cron, events, filter, upstream)
        norm = cron_.validate_cron(cron, timezone) if kind == "cron" and cron is not None else None
        if kind != "cron":
            cron_.zone(timezone)
        kinds = check_events(events or []) if kind == "event" else []
        token = secrets.token_urlsafe(32) if kind == "webhook" else None
        now = now_ms()
        with self._store.write() as conn:
            check_param_names(conn, pipeline, params or {})
            if kind == "pipeline" and upstream is not None:
                pipeline_row(conn, upstream)
                check_no_cycle(conn, pipeline, upstream)
            result = conn.execute(
                insert(t.schedules).values(
                    pipeline=pipeline,
                    kind=kind,
                    cron=norm,
                    timezone=timezone,
                    events=kinds,
                    filter=dict(filter or {}),
                    upstream=upstream if kind == "pipeline" else None,
                    params=dict(params or {}),
                    token_hash=s.token_hash(token) if token else None,
                    enabled=True,
                    next_at=cron_.next_after(norm, timezone, now) if norm else None,
                    cursor=latest_event_id(conn),  # events from now on, not the history
                    created_at=now,
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            row = s.schedule_row(conn, int(pk[0]))
        return ScheduleCreated(schedule=s.to_schedule(row), token=token)

    @operation
    def list_schedules(self, pipeline: str | None = None) -> list[Schedule]:
        """Schedules, oldest first, optionally of one pipeline."""
        query = select(t.schedules).order_by(t.schedules.c.id)
        if pipeline is not None:
            query = query.where(t.schedules.c.pipeline == pipeline)
        with self._store.read() as conn:
            return [s.to_schedule(row) for row in conn.execute(query)]

    @operation
    def get_schedule(self, schedule_id: int) -> Schedule:
        """One schedule by id."""
        with self._store.read() as conn:
            return s.to_schedule(s.schedule_row(conn, schedule_id))

    @operation
    def delete_schedule(self, schedule_id: int) -> None:
        """Remove a trigger (with its fire history; the runs it queued stay)."""
        with self._store.write() as conn:
            s.schedule_row(conn, schedule_id)
            conn.execute(delete(t.schedules).where(t.schedules.c.id == schedule_id))

    @operation
    def set_schedule_enabled(self, schedule_id: int, enabled: bool) -> Schedule:
        """Pause or resume a trigger. Resuming starts afresh: the next cron slot after now, and only
        events from now on (what happened while it was paused does not fire it)."""
        with self._store.write() as conn:
            row = s.schedule_row(conn, schedule_id)
            values: dict[str, Any] = {"enabled": enabled}
            if enabled and not row.enabled:
                values["cursor"] = latest_event_id(conn)
                if row.cron:
                    values["next_at"] = cron_.next_after(row.cron, row.timezone, now_ms())
            conn.execute(update(t.schedules).where(t.schedules.c.id == schedule_id).values(**values))
            return s.to_schedule(s.schedule_row(conn, schedule_id))

    # ------------------------------------------------------------------ fires
    @operation
    def fire(
        self,
        schedule_id: int,
        fire_key: str,
        params: dict[str, Any] | None = None,
        info: dict[str, Any] | None = None,
    ) -> PipelineRun | None:
        """Queue a run of the schedule's pipeline once per ``fire_key``: None when that key already fired.
        ``params`` override the schedule's own."""
        if not fire_key or len(fire_key) > MAX_FIRE_KEY:
            raise InvalidArgument(f"fire_key must be 1-{MAX_FIRE_KEY} characters, got {len(fire_key or '')}")
        try:
            with self._store.write() as conn:
                row = s.schedule_row(conn, schedule_id)
                if not row.enabled:
                    raise Conflict(f"schedule {schedule_id} of pipeline {row.pipeline!r} is disabled; enable it first")
                return self._fire(conn, row, fire_key, {**(row.params or {}), **(params or {})}, info or {})
        except IntegrityError:  # another scheduler fired the same key at the same moment (PostgreSQL)
            return None

    def _fire(
        self, conn: Connection, row: Any, key: str, params: dict[str, Any], info: dict[str, Any]
    ) -> PipelineRun | None:
        f = t.fires
        taken = conn.execute(select(f.c.pipeline_run_id).where(f.c.schedule_id == row.id, f.c.fire_key == key)).first()
        if taken is not None:
            return None
        trigger_info = {"schedule_id": row.id, "fire_key": key, **info}
        params = _resolved(conn, row.pipeline, params)
        run_id = insert_run(conn, row.pipeline, params, row.kind, trigger_info, "default", True)
        now = now_ms()
        conn.execute(insert(f).values(schedule_id=row.id, fire_key=key, pipeline_run_id=run_id, fired_at=now))
        conn.execute(update(t.schedules).where(t.schedules.c.id == row.id).values(last_fired_at=now))
        return to_run(run_row(conn, run_id))

    @operation
    def trigger(
        self,
        pipeline: str,
        params: dict[str, Any] | None = None,
        trigger: TriggerKind = "manual",
        info: dict[str, Any] | None = None,
        executor: str = "default",
    ) -> PipelineRun:
        """Queue a run of a registered pipeline now; the scheduler starts it (``executor="default"``: the
        pipeline's own ``@pipeline(executor=...)``)."""
        if executor not in QUEUED_EXECUTORS:  # the scheduler's child could only fail the run later
            raise InvalidArgument(
                f"unknown executor {executor!r} for a queued run: use one of {', '.join(QUEUED_EXECUTORS)}"
            )
        with self._store.write() as conn:
            resolved = _resolved(conn, pipeline, dict(params or {}))
            run_id = insert_run(conn, pipeline, resolved, trigger, dict(info or {}), executor, True)
            return to_run(run_row(conn, run_id))

    @operation
    def verify_webhook(self, pipeline: str, token: str | None) -> Schedule:
        """The enabled webhook trigger of ``pipeline`` whose token this is: Unauthorized without a
        token, Forbidden with a wrong one."""
        if not token:
            raise Unauthorized(
                f"triggering pipeline {pipeline!r} needs its webhook token: send `Authorization: Bearer <token>` "
                "or `X-Treadle-Token: <token>`"
            )
        digest = s.token_hash(token)
        q = t.schedules.c
        query = select(t.schedules).where(q.pipeline == pipeline, q.kind == "webhook", q.enabled.is_(True))
        with self._store.read() as conn:
            for row in conn.execute(query):
                if hmac.compare_digest(row.token_hash or "", digest):
                    return s.to_schedule(row)
        raise Forbidden(
            f"the token matches no enabled webhook trigger of pipeline {pipeline!r}; create one with "
            f"`treadle pipelines schedule {pipeline} --webhook`"
        )

    @operation
    def fire_due_cron(self, now: int | None = None) -> list[PipelineRun]:
        """Fire every enabled cron schedule whose next slot is due at ``now`` (ms; default the clock):
        once, for the latest due slot, however many were missed, then move it to the next slot."""
        if now is not None and not 0 <= now <= MAX_TIME_MS:
            raise InvalidArgument(f"now must be epoch milliseconds between 0 and {MAX_TIME_MS}, got {now}")
        now = now_ms() if now is None else now
        q = t.schedules.c
        due = select(q.id).where(q.kind == "cron", q.enabled.is_(True), q.next_at <= now).order_by(q.id)
        with self._store.read() as conn:
            ids = list(conn.execute(due).scalars())
        fired: list[PipelineRun] = []
        for schedule_id in ids:
            try:
                run = self._fire_cron(schedule_id, now)
            except IntegrityError:  # another scheduler fired this slot at the same moment
                continue
            except TreadleError as exc:  # the pipeline is gone or its params changed: skip the slot, go on
                log.warning("cron schedule %s could not fire: %s", schedule_id, exc.message)
                self._skip_slot(schedule_id, now)
                continue
            if run is not None:
                fired.append(run)
        return fired

    def _fire_cron(self, schedule_id: int, now: int) -> PipelineRun | None:
        with self._store.write() as conn:
            row = s.schedule_row(conn, schedule_id)
            if not row.enabled or row.next_at is None or row.next_at > now:
                return None  # another scheduler got here first
            key = cron_.iso(cron_.latest_due(row.cron, row.timezone, now))
            run = self._fire(conn, row, key, dict(row.params or {}), {"due": key})
            nxt = cron_.next_after(row.cron, row.timezone, now)
            conn.execute(update(t.schedules).where(t.schedules.c.id == schedule_id).values(next_at=nxt))
            return run

    def _skip_slot(self, schedule_id: int, now: int) -> None:
        with self._store.write() as conn:
            row = conn.execute(select(t.schedules).where(t.schedules.c.id == schedule_id)).first()
            if row is not None and row.cron:
                try:
                    nxt: int | None = cron_.next_after(row.cron, row.timezone, now)
                except TreadleError:  # no slot left before year 9999: never due again
                    nxt = None
                conn.execute(update(t.schedules).where(t.schedules.c.id == schedule_id).values(next_at=nxt))

    @operation
    def fire_due_events(self, limit: int = 500) -> list[PipelineRun]:
        """Fire event and pipeline-success schedules for outbox events after each one's cursor that
        match its kinds and filter (at most ``limit`` events per schedule per call)."""
        q = t.schedules.c
        query = select(q.id).where(q.kind.in_(("event", "pipeline")), q.enabled.is_(True)).order_by(q.id)
        with self._store.read() as conn:
            ids = list(conn.execute(query).scalars())
        fired: list[PipelineRun] = []
        for schedule_id in ids:
            try:
                fired.extend(self._fire_events(schedule_id, limit))
            except NotFound:  # deleted since we listed it: the others still fire
                continue
        return fired

    def _fire_events(self, schedule_id: int, limit: int) -> list[PipelineRun]:
        with self._store.read() as conn:
            row = s.schedule_row(conn, schedule_id)
        page = self._events.read(after=row.cursor, kinds=s.event_kinds(row), limit=limit)
        want = s.event_filter(row)
        fired: list[PipelineRun] = []
        q = t.schedules.c
        for event in page.events:
            if not s.matches(want, event.subject, event.payload):
                continue
            info = {"event_id": event.id, "event": event.kind, "subject": event.subject, "payload": event.payload}
            if row.kind == "pipeline":
                info["upstream_run_id"] = event.payload.get("pipeline_run_id")
            params = s.bind_params(dict(row.params or {}), event.payload)
            try:
                with self._store.write() as conn:
                    current = s.schedule_row(conn, schedule_id)
                    if not current.enabled or current.cursor >= event.id:
                        return fired  # disabled meanwhile, or another scheduler is ahead of us
                    run = self._fire(conn, current, f"event:{event.id}", params, info)
                    conn.execute(update(t.schedules).where(q.id == schedule_id).values(cursor=event.id))
            except IntegrityError:
                return fired
            except TreadleError as exc:  # e.g. a payload value the pipeline's params refuse: skip this event
                log.warning("schedule %s could not fire for event %s: %s", schedule_id, event.id, exc.message)
                with self._store.write() as conn:
                    conn.execute(
                        update(t.schedules).where(q.id == schedule_id, q.cursor < event.id).values(cursor=event.id)
                    )
                continue
            if run is not None:
                fired.append(run)
        if page.cursor > row.cursor:
            with self._store.write() as conn:
                conn.execute(
                    update(t.schedules).where(q.id == schedule_id, q.cursor < page.cursor).values(cursor=page.cursor)
                )
        return fired

    # ------------------------------------------------------------------ the scheduler's lease
    @operation
    def acquire_lease(self, name: str, holder: str, ttl_s: float = 30.0) -> bool:
        """Take or renew lease ``name`` for ``ttl_s`` seconds; True when ``holder`` holds it now."""
        if not 0 < ttl_s <= 86_400:
            raise InvalidArgument(f"ttl_s must be in (0, 86400] seconds, got {ttl_s}")
        with self._store.write() as conn:
            return s.acquire(conn, name, holder, int(ttl_s * 1000))

    @operation
    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (only its holder can), so another scheduler takes over at once."""
        with self._store.write() as conn:
            conn.execute(delete(t.leases).where(t.leases.c.name == name, t.leases.c.holder == holder))


def _resolved(conn: Connection, pipeline: str, params: dict[str, Any]) -> dict[str, Any]:
    row = pipeline_row(conn, pipeline)
    return s.resolve_params(spec_of(conn, row.id, row.spec_digest), params)
