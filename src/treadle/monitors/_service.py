"""The monitoring state service: monitors, their windows, alert states (with hysteresis) and labels.

Computation (profiles, drift tests, quality, performance) happens in :mod:`treadle.monitoring`,
wherever a monitor is run; this service keeps what it found, moves each monitor's cursor, decides
alert transitions and emits ``drift_detected`` / ``performance_degraded`` events — the window, the
cursor, the alert states and the events in one transaction, so a crash or a rival runner never
records a window twice or fires an alert without its window. Labels that arrive after their window
was recorded update its performance later (``count_labels`` tells the runner when,
``update_window_performance`` stores it and steps the ``performance.*`` rules once per window).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from treadle.artifacts import delete_manifest, record_files
from treadle.errors import AlreadyExists, InvalidArgument, NotFound
from treadle.events import emit
from treadle.monitors import _alerts as al
from treadle.monitors import _labels as lb
from treadle.monitors import _store as s
from treadle.monitors import _tables as t
from treadle.monitors._records import (
    AlertRule,
    AlertState,
    LabelsLogged,
    Monitor,
    MonitorSpec,
    ReferenceInfo,
    WindowReport,
)
from treadle.names import check_name
from treadle.ops import Service, operation
from treadle.store import Store, dialect_insert, now_ms

MAX_WINDOWS = 10_000
MAX_ERROR = 10_000
_INT64 = 2**63
# A replaced spec that changes any of these compares against other data: its stored reference goes.
_REFERENCE_FIELDS = (
    "deployment",
    "model",
    "reference_dataset",
    "reference_version",
    "target",
    "features",
    "categorical",
)


class MonitorService(Service):
    """Monitors, their evaluated windows, alert states and labels (module docstring)."""

    capability: ClassVar[str] = "monitors"

    def __init__(self, store: Store) -> None:
        self._store = store

    @operation
    def create_monitor(self, spec: MonitorSpec, replace: bool = False) -> Monitor:
        """Create a monitor (``replace``: overwrite the spec of an existing one, keeping its windows)."""
        check_name(spec.name, "monitor")
        check_name(spec.deployment, "deployment")
        al.check_rules(spec)
        now = now_ms()
        body = spec.model_dump(mode="json")
        m = t.monitors
        with self._store.write() as conn:
            created = conn.execute(
                dialect_insert(conn, m)
                .values(name=spec.name, spec=body, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(m.c.id)
            ).first()
            if created is None:
                if not replace:
                    raise AlreadyExists(
                        f"monitor {spec.name!r} already exists: pass replace=True (`treadle monitor create --replace`) "
                        "to change its spec, or pick another name"
                    )
                row = s.monitor_row(conn, spec.name, lock=True)
                values: dict[str, Any] = {"spec": body, "updated_at": now}
                old = MonitorSpec.model_validate(row.spec)
                if any(getattr(old, f) != getattr(spec, f) for f in _REFERENCE_FIELDS):
                    values["reference"] = None
                conn.execute(update(m).where(m.c.id == row.id).values(**values))
                rules = [rule.name for rule in spec.alerts]
                a = t.monitor_alerts
                conn.execute(delete(a).where(a.c.monitor_id == row.id, a.c.rule.not_in(rules)))
            return s.to_monitor(s.monitor_row(conn, spec.name))

    @operation
    def get_monitor(self, name: str) -> Monitor:
        """One monitor: its spec, reference, cursor and last run."""
        with self._store.read() as conn:
            return s.to_monitor(s.monitor_row(conn, name))

    @operation
    def list_monitors(self) -> list[Monitor]:
        """Every monitor, by name."""
        with self._store.read() as conn:
            return [s.to_monitor(row) for row in conn.execute(select(t.monitors).order_by(t.monitors.c.name))]

    @operation
    def delete_monitor(self, name: str) -> None:
        """Delete a monitor with its windows and alert states (labels stay: they belong to the endpoint)."""
        m = t.monitors
        with self._store.write() as conn:
            if conn.execute(delete(m).where(m.c.name == name).returning(m.c.id)).first() is None:
                raise s.not_found(name)
            delete_manifest(conn, _manifest(name))

    @operation
    def set_monitor_enabled(self, name: str, enabled: bool) -> Monitor:
        """Pause or resume a monitor's scheduled runs (``treadle monitor run`` still runs it)."""
        with self._store.write() as conn:
            row = s.monitor_row(conn, name, lock=True)
            spec = MonitorSpec.model_validate(row.spec).model_copy(update={"enabled": enabled})
            values = {"spec": spec.model_dump(mode="json"), "updated_at": now_ms()}
            conn.execute(update(t.monitors).where(t.monitors.c.id == row.id).values(**values))
            return s.to_monitor(s.monitor_row(conn, name))

    @operation
    def set_reference(self, name: str, reference: ReferenceInfo) -> Monitor:
        """Store the reference (and its profile's blob digest) the monitor compares against."""
        with self._store.write() as conn:
            row = s.monitor_row(conn, name, lock=True)
            values = {"reference": reference.model_dump(mode="json"), "updated_at": now_ms()}
            conn.execute(update(t.monitors).where(t.monitors.c.id == row.id).values(**values))
            # A manifest entry keeps the profile's blob out of `treadle gc`'s reach.
            record_files(conn, _manifest(name), [(PROFILE_PATH, reference.profile_digest, reference.profile_size)])
            return s.to_monitor(s.monitor_row(conn, name))

    @operation
    def record_window(self, report: WindowReport, cursor_ms: int, cursor_id: str | None = None) -> WindowReport:
        """Keep one evaluated window, move the cursor, update alert states and emit their events.

        Idempotent per (monitor, start_ms, end_ms): a window recorded twice is returned as first
        recorded. Returns the report with ``fired``/``cleared`` filled in."""
        if not (-_INT64 <= report.start_ms <= report.end_ms < _INT64 and 0 <= report.rows < 2**31):
            raise InvalidArgument(
                f"a window needs start_ms <= end_ms (epoch ms) and rows >= 0, got [{report.start_ms}, "
                f"{report.end_ms}] with {report.rows} rows"
            )
        try:
            with self._store.write() as conn:
                return self._record(conn, report, cursor_ms, cursor_id)
        except IntegrityError:  # a rival recorded the same window between our check and insert
            with self._store.read() as conn:
                first = _window(conn, s.monitor_row(conn, report.monitor).id, report.start_ms, report.end_ms)
            if first is None:
                raise
            return first

    def _record(self, conn: Connection, report: WindowReport, cursor_ms: int, cursor_id: str | None) -> WindowReport:
        row = s.monitor_row(conn, report.monitor, lock=True)  # rival runners queue here
        now = now_ms()
        first = _window(conn, row.id, report.start_ms, report.end_ms)
        _advance(conn, row, cursor_ms, cursor_id, now)
        if first is not None:
            return first
        spec = MonitorSpec.model_validate(row.spec)
        fired, cleared = self._alerts(conn, row.id, spec, report, now)
        done = report.model_copy(update={"fired": fired, "cleared": cleared, "created_at": now})
        conn.execute(
            t.monitor_windows.insert().values(
                monitor_id=row.id,
                start_ms=done.start_ms,
                end_ms=done.end_ms,
                rows=done.rows,
                drift_share=done.drift_share,
                dataset_drift=done.dataset_drift,
                report=s.report_json(done),
                created_at=now,
            )
        )
        return done

    def _alerts(
        self,
        conn: Connection,
        monitor_id: int,
        spec: MonitorSpec,
        report: WindowReport,
        now: int,
        rules: list[AlertRule] | None = None,
    ) -> tuple[list[str], list[str]]:
        """Step ``rules`` (default: all the monitor's) with ``report``'s values, emit their events."""
        a = t.monitor_alerts
        states = {r.rule: r for r in conn.execute(select(a).where(a.c.monitor_id == monitor_id))}
        fired: list[str] = []
        cleared: list[str] = []
        for rule in spec.alerts if rules is None else rules:
            prev = states.get(rule.name)
            value = al.metric_value(report, rule.metric)
            st = al.step(
                rule,
                prev.state if prev is not None else "ok",
                prev.breaches if prev is not None else 0,
                prev.passes if prev is not None else 0,
                value,
            )
            changed = st.fired or st.cleared
            since = report.end_ms if changed else (prev.since_ms if prev is not None else None)
            values = {"state": st.state, "breaches": st.breaches, "passes": st.passes, "value": value}
            stmt = dialect_insert(conn, a).values(monitor_id=monitor_id, rule=rule.name, since_ms=since, updated_at=now)
            conn.execute(
                stmt.values(**values).on_conflict_do_update(
                    index_elements=["monitor_id", "rule"], set_={**values, "since_ms": since, "updated_at": now}
                )
            )
            if not changed:
                continue
            (fired if st.fired else cleared).append(rule.name)
            emit(
                conn,
                al.event_kind(rule) if st.fired else "alert_cleared",
                spec.name,
                monitor=spec.name,
                deployment=spec.deployment,
                rule=rule.name,
                metric=rule.metric,
                value=s.encode(value),
                threshold=rule.threshold,
                window_start_ms=report.start_ms,
                window_end_ms=report.end_ms,
            )
        return fired, cleared

    @operation
    def update_window_performance(
        self,
        name: str,
        start_ms: int,
        end_ms: int,
        labelled: int,
        performance: dict[str, float] | None,
        labels_counted: int | None = None,
    ) -> WindowReport:
        """Late labels: replace a recorded window's real performance, scored again as labels arrived.

        Sets the window's ``labelled`` rows and ``performance`` (None, for labels that could not be
        scored, keeps the numbers it had) and ``labels_counted`` (the :meth:`count_labels` the
        runner scored it at; None keeps it), in one transaction. Each window is one observation of
        each ``performance.*`` alert rule, taken the first time its performance is known: at
        :meth:`record_window` when the labels were already there, else at the first update that
        brings performance — which steps those rules (hysteresis, ``performance_degraded`` events,
        as :meth:`record_window` does) and adds the rules that fired or cleared to the window's
        ``fired``/``cleared``. Later updates refresh the numbers without stepping again. Windows
        are observed in the order their labels arrive, not in window order. NotFound for an
        unknown monitor or window."""
        if not (-_INT64 <= start_ms <= end_ms < _INT64 and 0 <= labelled < 2**31):
            raise InvalidArgument(
                f"a window needs start_ms <= end_ms (epoch ms) and labelled >= 0, got [{start_ms}, {end_ms}] "
                f"with {labelled} labelled rows"
            )
        if labels_counted is not None and not 0 <= labels_counted < _INT64:
            raise InvalidArgument(f"labels_counted must be >= 0, got {labels_counted}")
        w = t.monitor_windows
        with self._store.write() as conn:
            row = s.monitor_row(conn, name, lock=True)  # serialised with runners recording windows
            query = select(w.c.id, w.c.report).where(
                w.c.monitor_id == row.id, w.c.start_ms == start_ms, w.c.end_ms == end_ms
            )
            found = conn.execute(query).first()
            if found is None:
                raise NotFound(
                    f"monitor {name!r} has no window [{start_ms}, {end_ms}] (`treadle monitor show` lists its windows)"
                )
            old = s.to_window(found.report)
            values: dict[str, Any] = {"labelled": labelled}
            if performance is not None:
                values["performance"] = dict(performance)
            if labels_counted is not None:
                values["labels_counted"] = labels_counted
            report = old.model_copy(update=values)
            if not old.performance and report.performance:  # the window's first known performance
                spec = MonitorSpec.model_validate(row.spec)
                rules = [r for r in spec.alerts if r.metric.startswith("performance.")]
                fired, cleared = self._alerts(conn, row.id, spec, report, now_ms(), rules)
                report = report.model_copy(update={"fired": old.fired + fired, "cleared": old.cleared + cleared})
            conn.execute(update(w).where(w.c.id == found.id).values(report=s.report_json(report)))
            return report

    @operation
    def record_error(self, name: str, error: str) -> Monitor:
        """Note that a run failed (shown on the monitor's page); the cursor does not move."""
        with self._store.write() as conn:
            row = s.monitor_row(conn, name, lock=True)
            # last_run_at moves too: the scheduler retries after interval_s, not in a hot loop.
            values = {"last_error": error[:MAX_ERROR] or "failed", "last_run_at": now_ms()}
            conn.execute(update(t.monitors).where(t.monitors.c.id == row.id).values(**values))
            return s.to_monitor(s.monitor_row(conn, name))

    @operation
    def mark_run(self, name: str) -> Monitor:
        """Note a run that found no complete window, so the scheduler waits ``interval_s`` again."""
        with self._store.write() as conn:
            row = s.monitor_row(conn, name, lock=True)
            values = {"last_error": None, "last_run_at": now_ms()}
            conn.execute(update(t.monitors).where(t.monitors.c.id == row.id).values(**values))
            return s.to_monitor(s.monitor_row(conn, name))

    @operation
    def list_windows(
        self, name: str, since_ms: int | None = None, until_ms: int | None = None, limit: int = 500
    ) -> list[WindowReport]:
        """Windows ending in [since_ms, until_ms], oldest first (the latest ``limit``)."""
        if not 1 <= limit <= MAX_WINDOWS:
            raise InvalidArgument(f"limit must be within 1..{MAX_WINDOWS}, got {limit}")
        w = t.monitor_windows
        with self._store.read() as conn:
            monitor_id = s.monitor_row(conn, name).id
            query = select(w.c.report).where(w.c.monitor_id == monitor_id)
            if since_ms is not None:
                query = query.where(w.c.end_ms >= since_ms)
            if until_ms is not None:
                query = query.where(w.c.end_ms <= until_ms)
            rows = conn.execute(query.order_by(w.c.end_ms.desc(), w.c.start_ms.desc()).limit(limit)).all()
        return [s.to_window(r.report) for r in reversed(rows)]

    @operation
    def alert_states(self, name: str) -> list[AlertState]:
        """The state of each of the monitor's alert rules (``ok`` with no counts before its first window)."""
        a = t.monitor_alerts
        with self._store.read() as conn:
            row = s.monitor_row(conn, name)
            stored = {r.rule: r for r in conn.execute(select(a).where(a.c.monitor_id == row.id))}
        spec = MonitorSpec.model_validate(row.spec)
        return [
            s.to_alert(name, stored[rule.name])
            if rule.name in stored
            else AlertState(monitor=name, rule=rule.name, state="ok", breaches=0, passes=0, updated_at=row.updated_at)
            for rule in spec.alerts
        ]

    @operation
    def due_monitors(self, now_ms: int | None = None) -> list[str]:
        """Enabled monitors whose ``interval_s`` has passed since their last run."""
        now = _now() if now_ms is None else now_ms
        m = t.monitors
        query = select(m.c.name, m.c.spec, m.c.last_run_at).where(m.c.reference.is_not(None)).order_by(m.c.name)
        with self._store.read() as conn:
            rows = conn.execute(query).all()
        due = []
        for row in rows:
            spec = row.spec or {}
            if not spec.get("enabled", True):
                continue
            if row.last_run_at is None or now - row.last_run_at >= int(spec.get("interval_s", 60)) * 1000:
                due.append(row.name)
        return due

    @operation
    def log_labels(self, request_ids: list[str], labels: list[Any], endpoint: str | None = None) -> LabelsLogged:
        """Ground truth for served requests; ids not in any request log come back in ``unknown``."""
        by_id = lb.check_labels(request_ids, labels)
        with self._store.write() as conn:
            return lb.store_labels(conn, by_id, endpoint)

    @operation
    def count_labels(self, endpoint: str, since_ms: int, until_ms: int) -> int:
        """How many requests of ``endpoint`` logged in [since_ms, until_ms] (epoch ms, inclusive)
        have a label: a runner scores a window again when this grows past what it scored."""
        if not -_INT64 <= since_ms <= until_ms < _INT64:
            raise InvalidArgument(f"count labels over since_ms <= until_ms (epoch ms), got [{since_ms}, {until_ms}]")
        with self._store.read() as conn:
            return lb.count_labels(conn, endpoint, since_ms, until_ms)

    @operation
    def get_labels(self, endpoint: str, request_ids: list[str]) -> dict[str, Any]:
        """request id -> label, for the ids that have one."""
        if len(request_ids) > lb.MAX_LABELS:
            raise InvalidArgument(f"ask for at most {lb.MAX_LABELS:,} labels per call, got {len(request_ids):,}")
        with self._store.read() as conn:
            return lb.read_labels(conn, endpoint, request_ids)


def _now() -> int:
    return now_ms()


def _window(conn: Connection, monitor_id: int, start_ms: int, end_ms: int) -> WindowReport | None:
    w = t.monitor_windows
    query = select(w.c.report).where(w.c.monitor_id == monitor_id, w.c.start_ms == start_ms, w.c.end_ms == end_ms)
    row = conn.execute(query).first()
    return None if row is None else s.to_window(row.report)


def _advance(conn: Connection, row: Any, cursor_ms: int, cursor_id: str | None, now: int) -> None:
    """Move the cursor forward (never back: a late runner must not make windows run again), note the run."""
    values: dict[str, Any] = {"last_run_at": now, "last_error": None}
    if row.cursor_ms is None or (cursor_ms, cursor_id or "") > (row.cursor_ms, row.cursor_id or ""):
        values.update(cursor_ms=cursor_ms, cursor_id=cursor_id)
    conn.execute(update(t.monitors).where(t.monitors.c.id == row.id).values(**values))


PROFILE_PATH = "reference-profile"


def _manifest(name: str) -> str:
    return f"monitors/{name}"
