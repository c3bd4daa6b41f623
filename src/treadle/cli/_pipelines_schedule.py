"""``treadle pipelines schedule|schedules|unschedule|pause|unpause``: a pipeline's triggers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from treadle.cli._context import state
from treadle.cli._output import fail, fmt_time, note, out, plural
from treadle.cli._pipelines_common import Params, load, parse_pairs
from treadle.cli._pipelines_show import schedule_label

ScheduleId = Annotated[int, typer.Argument(metavar="ID", help="A schedule's id (see `treadle pipelines schedules`).")]


def schedule(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(metavar="REF|NAME", help="module:attr / file.py:attr of a @pipeline, or a registered name.")
    ],
    cron: Annotated[
        str | None, typer.Option("--cron", help="A 5-field cron expression, e.g. '0 3 * * *', or @daily.")
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", "--tz", help="The cron's IANA time zone.")] = "UTC",
    on: Annotated[
        list[str] | None,
        typer.Option("--on", metavar="EVENT", help="An outbox event kind, e.g. dataset_version_created (repeatable)."),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", metavar="KEY=VALUE", help="With --on: the event payload must match (repeatable)."),
    ] = None,
    after: Annotated[str | None, typer.Option("--after", metavar="PIPELINE", help="Run after it succeeds.")] = None,
    webhook: Annotated[
        bool, typer.Option("--webhook", help="Run on POST /pipelines/NAME/trigger with a token.")
    ] = False,
    params: Params = None,
) -> None:
    """Trigger a pipeline on a cron, on events, after another pipeline, or on a webhook.

    Param values '$event.KEY' take the triggering event's payload value (e.g. --param version='$event.version')."""
    chosen = [k for k, v in (("--cron", cron), ("--on", on), ("--after", after), ("--webhook", webhook)) if v]
    if len(chosen) != 1:
        fail(
            "give exactly one of --cron, --on EVENT, --after PIPELINE or --webhook"
            + (f" (got {' '.join(chosen)})" if chosen else "")
        )
    if filters and not on:
        fail("--filter goes with --on EVENT")
    client = state(ctx).client()
    name = load(ref, client).spec.name if ":" in ref else ref
    kind = {"--cron": "cron", "--on": "event", "--after": "pipeline", "--webhook": "webhook"}[chosen[0]]
    created = client.schedules.create_schedule(
        name,
        kind,  # type: ignore[arg-type]
        cron=cron,
        timezone=timezone,
        events=on,
        filter=parse_pairs(filters, "--filter") or None,
        upstream=after,
        params=parse_pairs(params) or None,
    )
    sched = created.schedule
    note(f"schedule {sched.id}: {name} {schedule_label(sched)}")
    if sched.next_at:
        note(f"next run at {fmt_time(sched.next_at)}")
    if created.token:
        note(f"token (shown once): {created.token}")
        note(
            f"curl -X POST -H 'Authorization: Bearer {created.token}' -H 'content-type: application/json' "
            f"-d '{{}}' http://HOST:PORT/pipelines/{name}/trigger"
        )
    note("runs start while `treadle server` or `treadle scheduler` is running")


def schedules(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="Only this pipeline's.")] = None,
) -> None:
    """List triggers with their next and last fire."""
    items = state(ctx).client().schedules.list_schedules(name)
    if not items:
        note("No schedules; add one with `treadle pipelines schedule NAME --cron/--on/--after/--webhook`.")
        return
    table = Table(title=plural(len(items), "schedule"))
    for column in ("id", "pipeline", "trigger", "params", "next", "last fired", "state"):
        table.add_column(column, no_wrap=column in ("id", "next", "last fired"))
    for s in items:
        params = ", ".join(f"{k}={v}" for k, v in s.params.items())
        state_text = Text("on", style="green") if s.enabled else Text("paused", style="yellow")
        table.add_row(
            str(s.id), s.pipeline, schedule_label(s), params, fmt_time(s.next_at), fmt_time(s.last_fired_at), state_text
        )
    out().print(table)


def unschedule(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Delete a trigger (runs it queued stay)."""
    state(ctx).client().schedules.delete_schedule(schedule_id)
    note(f"schedule {schedule_id} deleted")


def set_enabled(enabled: bool) -> Callable[[typer.Context, int], None]:
    def command(ctx: typer.Context, schedule_id: ScheduleId) -> None:
        sched = state(ctx).client().schedules.set_schedule_enabled(schedule_id, enabled)
        note(f"schedule {sched.id} ({sched.pipeline} {schedule_label(sched)}) {'on' if enabled else 'paused'}")

    command.__doc__ = (
        "Resume a paused trigger (from now on: missed slots and events do not fire)." if enabled else "Pause a trigger."
    )
    command.__name__ = "unpause" if enabled else "pause"
    return command
