"""``treadle pipelines show NAME|RUN_ID``: a pipeline's DAG, runs and triggers, or one run's steps."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from treadle.cli._context import state
from treadle.cli._output import fmt_time, key_value_grid, out, plural
from treadle.orchestration import Pipeline, PipelineRunDetail, Schedule, StepRun

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
STATUS_STYLES = {
    "QUEUED": "dim",
    "PENDING": "dim",
    "RUNNING": "blue",
    "SUCCEEDED": "green",
    "CACHED": "cyan",
    "FAILED": "red",
    "SKIPPED": "yellow",
    "CANCELLED": "yellow",
}


def status(value: str) -> Text:
    return Text(value, style=STATUS_STYLES.get(value, ""))


def duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start) / 1000
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _step_status(step: StepRun) -> Text:
    text = status(step.status)
    if step.cached_from:
        text.append(f" ← {step.cached_from}", style="dim")
    return text


def print_run(detail: PipelineRunDetail) -> None:
    run = detail.run
    rows: list[tuple[str, str | Text]] = [
        ("pipeline", run.pipeline),
        ("run", run.id),
        ("status", status(run.status)),
        ("trigger", run.trigger + (f" {json.dumps(run.trigger_info, default=str)}" if run.trigger_info else "")),
        ("params", json.dumps(run.params, default=str) if run.params else ""),
        ("executor", run.executor),
        ("tracked run", run.run_id or ""),
        ("attempt", str(run.attempt) if run.attempt else ""),
        ("started", fmt_time(run.started_at)),
        ("duration", duration(run.started_at, run.ended_at)),
        ("error", run.error or ""),
    ]
    out().print(key_value_grid(rows))
    table = Table(title=plural(len(detail.steps), "step"))
    for column in ("step", "status", "attempt", "duration", "tracked run", "outputs", "error"):
        table.add_column(column, no_wrap=column in ("step", "duration", "tracked run"))
    for step in detail.steps:
        outputs = ", ".join(f"{name}: {ref.type}" for name, ref in step.outputs.items())
        error = (step.error or "").strip().splitlines()
        table.add_row(
            Text(step.step, style="bold"),
            _step_status(step),
            str(step.attempt),
            duration(step.started_at, step.ended_at),
            step.run_id or "",
            outputs,
            error[-1] if error else "",
        )
    out().print(table)
    if run.status == "FAILED":
        out().print(Text(f"resume it with `treadle pipelines run --resume {run.id}`", style="dim"))


def schedule_label(sched: Schedule) -> str:
    if sched.kind == "cron":
        return f"cron {sched.cron}" + ("" if sched.timezone == "UTC" else f" ({sched.timezone})")
    if sched.kind == "event":
        where = ", ".join(f"{k}={v}" for k, v in sched.filter.items())
        return f"on {', '.join(sched.events)}" + (f" where {where}" if where else "")
    if sched.kind == "pipeline":
        return f"after {sched.upstream} succeeds"
    return f"webhook POST /pipelines/{sched.pipeline}/trigger"


def _print_pipeline(pipe: Pipeline, schedules: list[Schedule], runs: Table) -> None:
    spec = pipe.spec
    out().print(
        key_value_grid(
            [
                ("pipeline", pipe.name),
                ("source", spec.source or ""),
                ("params", ", ".join(p.name + ("" if p.required else f"={p.default!r}") for p in spec.params)),
                ("digest", spec.digest[:12]),
                ("updated", fmt_time(pipe.updated_at)),
                ("triggers", "; ".join(f"#{s.id} {schedule_label(s)}" for s in schedules)),
            ]
        )
    )
    dag = Table(title=plural(len(spec.steps), "step"))
    for column in ("step", "inputs", "outputs", "options"):
        dag.add_column(column)
    for step in spec.steps:
        inputs = []
        for arg, b in step.inputs.items():
            src = (
                f"{b.step}.{b.output}"
                if b.kind == "step"
                else f"param {b.param}"
                if b.kind == "param"
                else repr(b.value)
            )
            inputs.append(f"{arg} ← {src}")
        inputs += [f"after {a}" for a in step.after]
        options = [f"retries={step.retries}"] if step.retries else []
        options += [] if step.cache and not step.reads_mutable else ["no cache"]
        options += [f"timeout={step.timeout_s:g}s"] if step.timeout_s else []
        options += [f"requirements: {' '.join(step.requirements)}"] if step.requirements else []
        dag.add_row(Text(step.name, style="bold"), "\n".join(inputs), ", ".join(step.outputs), ", ".join(options))
    out().print(dag)
    out().print(runs)


def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME|RUN_ID", help="A pipeline's name or a pipeline run's id.")],
    limit: Annotated[int, typer.Option("--runs", min=1, max=10_000, help="Recent runs to list.")] = 10,
) -> None:
    """A pipeline's steps, triggers and recent runs; or one run's steps with status, cache markers, durations."""
    client = state(ctx).client()
    if RUN_ID.match(ref):
        print_run(client.pipelines.get_run_detail(ref))
        return
    pipe = client.pipelines.get_pipeline(ref)
    runs = client.pipelines.list_runs(ref, limit=limit)
    table = Table(title=f"recent runs ({len(runs)})")
    for column in ("run", "status", "trigger", "created", "duration", "error"):
        table.add_column(column, no_wrap=column != "error")
    for r in runs:
        table.add_row(
            r.id, status(r.status), r.trigger, fmt_time(r.created_at), duration(r.started_at, r.ended_at), r.error or ""
        )
    _print_pipeline(pipe, client.schedules.list_schedules(ref), table)
