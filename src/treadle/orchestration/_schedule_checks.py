"""Checks on a new schedule, before anything is written: its fields, event kinds, params, and
that pipeline-success chains never loop."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, select

from treadle.errors import InvalidArgument
from treadle.orchestration import _schedule_tables as t
from treadle.orchestration._store import pipeline_row, spec_of

# The outbox kinds a schedule may listen to (the monitoring ones come from monitors' alert rules).
KNOWN_EVENTS = frozenset(
    {
        "dataset_version_created",
        "dataset_alias_moved",
        "dataset_deleted",
        "model_created",
        "model_version_created",
        "model_version_deleted",
        "alias_moved",
        "alias_deleted",
        "deployment_applied",
        "deployment_promoted",
        "deployment_rolled_back",
        "materialization_completed",
        "feature_view_applied",
        "drift_detected",
        "performance_degraded",
        "data_quality",
        "alert_cleared",
        "run_finished",
        "pipeline_run_started",
        "pipeline_run_finished",
        "pipeline_run_resumed",
    }
)
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def check_fields(
    kind: str, cron: str | None, events: list[str] | None, filter: dict[str, Any] | None, upstream: str | None
) -> None:
    needs = {"cron": "cron", "event": "events", "pipeline": "upstream"}
    given = {"cron": cron, "events": events, "upstream": upstream, "filter": filter}
    if kind in needs and not given[needs[kind]]:
        raise InvalidArgument(f"a {kind} schedule needs {needs[kind]}")
    allowed = {"cron": {"cron"}, "event": {"events", "filter"}, "pipeline": {"upstream"}, "webhook": set()}[kind]
    extra = sorted(k for k, v in given.items() if v and k not in allowed)
    if extra:
        raise InvalidArgument(f"a {kind} schedule takes no {', '.join(extra)}")


def check_param_names(conn: Connection, pipeline: str, params: dict[str, Any]) -> None:
    """Params the pipeline does not declare are refused now, not at 3 a.m. (required ones may come
    later: from a webhook's body, or from the pipeline's defaults)."""
    row = pipeline_row(conn, pipeline)
    declared = [p.name for p in spec_of(conn, row.id, row.spec_digest).params]
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise InvalidArgument(
            f"pipeline {pipeline!r} has no param {unknown[0]!r} (params: {', '.join(declared) or 'none'})"
        )


def check_events(kinds: list[str]) -> list[str]:
    for kind in kinds:
        if not _KIND.match(kind) or kind not in KNOWN_EVENTS:
            raise InvalidArgument(f"unknown event kind {kind!r}; known kinds: {', '.join(sorted(KNOWN_EVENTS))}")
    return sorted(set(kinds))


def check_no_cycle(conn: Connection, pipeline: str, upstream: str) -> None:
    """Refuse ``pipeline`` after ``upstream`` when ``upstream`` already runs (transitively) after ``pipeline``."""
    q = t.schedules.c
    edges: dict[str, set[str]] = {}
    for down, up in conn.execute(select(q.pipeline, q.upstream).where(q.kind == "pipeline")):
        edges.setdefault(down, set()).add(up)
    path, todo, seen = {upstream: [pipeline, upstream]}, [upstream], set()
    while todo:
        node = todo.pop()
        if node == pipeline:
            raise InvalidArgument(f"running {pipeline!r} after {upstream!r} would loop: {' -> '.join(path[node])}")
        if node in seen:
            continue
        seen.add(node)
        for up in edges.get(node, ()):
            path.setdefault(up, [*path[node], up])
            todo.append(up)
