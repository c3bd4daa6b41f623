"""``treadle pipelines``: run, list, show, queue and schedule pipelines.

A REF is ``package.module:attr`` or ``path/to/file.py:attr`` naming a ``@pipeline``; commands that
act on something already registered (``show``, ``trigger``, ``schedule``) also take its plain name.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from treadle.cli._context import state
from treadle.cli._output import fail, fmt_time, note, out, plural, status_text
from treadle.cli._pipelines_common import Params, load, parse_pairs
from treadle.cli._pipelines_schedule import schedule, schedules, set_enabled, unschedule
from treadle.cli._pipelines_show import print_run, show

app = typer.Typer(
    no_args_is_help=True,
    help="Pipelines: run them, see their runs and steps, queue them, and trigger them on cron, events or webhooks.",
)


@app.command("run")
def run(
    ctx: typer.Context,
    ref: Annotated[
        str | None, typer.Argument(metavar="REF", help="module:attr or file.py:attr of a @pipeline.")
    ] = None,
    params: Params = None,
    executor: Annotated[
        str | None, typer.Option("--executor", "-e", help="inprocess, process or ray [default: the pipeline's].")
    ] = None,
    max_parallel: Annotated[int | None, typer.Option("--max-parallel", min=1, help="Steps in flight at once.")] = None,
    resume: Annotated[
        str | None,
        typer.Option("--resume", metavar="RUN_ID", help="Resume a FAILED or CANCELLED run from its failed steps."),
    ] = None,
    queued: Annotated[
        str | None, typer.Option("--queued", metavar="RUN_ID", help="Start a QUEUED run (what the scheduler does).")
    ] = None,
) -> None:
    """Run a pipeline now and print its steps; exit 1 when it fails."""
    client = state(ctx).client()
    if queued is not None:
        from treadle.pipelines import run_queued

        result = run_queued(queued, client=client)
    elif resume is not None:
        detail = client.pipelines.get_run_detail(resume)
        source = ref or detail.spec.source
        if not source:
            fail(f"run {resume} does not say where its pipeline is defined: pass its REF (module:attr)")
        pipe = load(source, client)
        result = pipe.resume(
            resume, executor=executor, max_parallel=max_parallel, raise_on_failure=False, client=client
        )
    else:
        if ref is None:
            fail("give the pipeline to run (module:attr or file.py:attr), or --resume / --queued RUN_ID")
        pipe = load(ref, client)
        kwargs = parse_pairs(params)
        result = pipe.run(executor=executor, max_parallel=max_parallel, raise_on_failure=False, client=client, **kwargs)
    detail = client.pipelines.get_run_detail(result.id)
    print_run(detail)
    if detail.run.status != "SUCCEEDED":
        raise typer.Exit(1)


@app.command("list")
def list_pipelines(ctx: typer.Context) -> None:
    """Registered pipelines with their last run and triggers."""
    client = state(ctx).client()
    pipelines = client.pipelines.list_pipelines()
    if not pipelines:
        note("No pipelines yet; run one with `treadle pipelines run module:attr`.")
        return
    triggers: dict[str, list[str]] = {}
    for sched in client.schedules.list_schedules():
        label = sched.cron if sched.kind == "cron" else sched.kind
        triggers.setdefault(sched.pipeline, []).append(str(label) + ("" if sched.enabled else " (paused)"))
    table = Table(title=plural(len(pipelines), "pipeline"))
    table.add_column("name", style="bold")
    table.add_column("steps", justify="right")
    table.add_column("last run", no_wrap=True)
    table.add_column("status")
    table.add_column("triggers")
    table.add_column("updated", no_wrap=True)
    for p in pipelines:
        table.add_row(
            p.name,
            str(len(p.spec.steps)),
            p.last_run_id or "",
            status_text(p.last_status or ""),
            ", ".join(triggers.get(p.name, [])),
            fmt_time(p.updated_at),
        )
    out().print(table)


@app.command("trigger")
def trigger(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A registered pipeline.")],
    params: Params = None,
    executor: Annotated[
        str, typer.Option("--executor", "-e", help="inprocess, process or ray [default: the pipeline's].")
    ] = "default",
) -> None:
    """Queue a run; the scheduler (`treadle server` or `treadle scheduler`) starts it."""
    run = state(ctx).client().schedules.trigger(name, parse_pairs(params), "manual", None, executor)
    note(f"queued {run.pipeline} run {run.id}; `treadle scheduler` or `treadle server` starts it")


app.command("show")(show)
app.command("schedule")(schedule)
app.command("schedules")(schedules)
app.command("unschedule")(unschedule)
app.command("pause")(set_enabled(False))
app.command("unpause")(set_enabled(True))
