"""``treadle runs``: search, delete, restore and purge runs (``show``/``compare`` in ``_runs_show``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from treadle.cli._context import View, resolve_experiment, resolve_run, state
from treadle.cli._output import fail, fmt_number, fmt_time, note, out, plural, status_text
from treadle.cli._runs_show import compare, show
from treadle.fmt import fmt_duration
from treadle.tracking import Run

app = typer.Typer(no_args_is_help=True, help="Search, inspect, compare, delete, restore and purge runs.")
app.command("show")(show)
app.command("compare")(compare)

RunRef = Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id, or a unique prefix of one.")]
DEFAULT_METRIC_COLUMNS = 4
WIDE = 150  # consoles at least this wide get full run ids and start times
NARROW = 100  # narrower ones lose the start time and duration
METRIC_WIDTH = 9  # what a formatted metric value takes at most (6 significant digits)
SHORT_ID = 8  # a prefix that `runs show` and friends accept
_KINDS = ("metrics", "params", "tags")


@app.command("list")
def list_runs(
    ctx: typer.Context,
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", metavar="NAME_OR_ID", help="Only this experiment (repeatable)."),
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-f", help="e.g. \"metrics.acc > 0.9 and params.lr = '0.01'\"."),
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", "-o", help="e.g. 'metrics.acc DESC' (repeatable).")
    ] = None,
    max_results: Annotated[int, typer.Option("--max", "-n", min=1, max=50_000, help="At most this many runs.")] = 100,
    view: Annotated[View, typer.Option("--view", help="Which lifecycle to show.")] = View.active,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            "-c",
            metavar="metrics.K|params.K|tags.K",
            help=f"Extra column (repeatable); default: up to {DEFAULT_METRIC_COLUMNS} metrics.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only run ids, one per line.")] = False,
) -> None:
    """Search runs across experiments, filtered and ordered."""
    explicit = [_parse_column(c) for c in column] if column else None
    client = state(ctx).client()
    experiment_ids = [resolve_experiment(client, e).id for e in experiment or []] or None
    page = client.tracking.search_runs(
        experiment_ids=experiment_ids, filter=filter, order_by=order_by, max_results=max_results, view=view.value
    )
    if quiet:
        for run in page.runs:
            typer.echo(run.id)
        return
    if not page.runs:
        note("No runs match.")
        return
    names = {e.id: e.name for e in client.tracking.list_experiments(view="all")}
    console = out()
    console.print(_runs_table(page.runs, names, explicit, order_by or [], console.width))
    if page.next_page_token:
        note(f"More runs match; raise --max (now {max_results}) to see them.")


Cell = tuple[str, dict[str, Any], Callable[[Run], str | Text]]


def _attribute_cells(runs: list[Run], names: dict[str, str], width: int) -> tuple[str, list[Cell]]:
    """The title and attribute columns; narrow consoles get short ids and times and fewer columns."""
    wide = width >= WIDE
    experiments = {r.experiment_id for r in runs}
    title = f"{len(runs)} runs"
    if len(experiments) == 1:
        only = next(iter(experiments))
        title += f" in {names.get(only, only)}"
    cells: list[Cell] = [
        ("run id", {"style": "cyan"}, lambda r: r.id if wide else r.id[:SHORT_ID]),
        ("name", {"style": "bold"}, lambda r: Text(("↳ " if r.parent_id else "") + r.name)),
    ]
    if len(experiments) > 1:
        cells.append(("experiment", {}, lambda r: names.get(r.experiment_id, r.experiment_id)))
    cells.append(("status", {}, lambda r: status_text(r.status)))
    if width >= NARROW:
        cells.append(("started", {}, lambda r: fmt_time(r.start_time, short=not wide)))
        cells.append(("duration", {"justify": "right"}, lambda r: fmt_duration(r.start_time, r.end_time)))
    return title, cells


def _runs_table(
    runs: list[Run], names: dict[str, str], explicit: list[tuple[str, str]] | None, order_by: list[str], width: int
) -> Table:
    """Runs as rows: attributes, then the chosen columns or as many metrics as fit the console."""
    title, cells = _attribute_cells(runs, names, width)
    rendered = [[cell(run) for _, _, cell in cells] for run in runs]
    widths = [max([len(header)] + [_width(row[i]) for row in rendered]) for i, (header, _, _) in enumerate(cells)]
    used = 1 + sum(3 + w for w in widths)
    columns = explicit
    if columns is None:
        columns = _default_columns(runs, order_by, DEFAULT_METRIC_COLUMNS)
        fits = 0
        for _, key in columns:
            used += 3 + max(len(key), METRIC_WIDTH)
            if used > width:
                break
            fits += 1
        columns = columns[: max(1, fits)]
    table = Table(title=title)
    for header, options, _ in cells:
        table.add_column(header, no_wrap=True, **options)
    for kind, key in columns:  # metrics are headed by their key; params and tags by kind.key
        header = key if kind == "metrics" else f"{kind}.{key}"
        table.add_column(header, justify="right" if kind == "metrics" else "left", overflow="fold", min_width=8)
    for run, attributes in zip(runs, rendered, strict=True):
        table.add_row(*attributes, *(_cell(run, kind, key) for kind, key in columns))
    return table


def _width(cell: str | Text) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(cell)


def _parse_column(spec: str) -> tuple[str, str]:
    prefix, _, key = spec.partition(".")
    kind = prefix.lower()
    if kind not in _KINDS or not key:
        fail(f"column {spec!r} must look like metrics.KEY, params.KEY or tags.KEY")
    return kind, key


def _default_columns(runs: list[Run], order_by: list[str], limit: int) -> list[tuple[str, str]]:
    """Metrics named in --order-by first, then the most common ones (system metrics last)."""
    wanted: list[str] = []
    for spec in order_by:
        field = spec.strip().split()[0] if spec.strip() else ""
        if field.lower().startswith("metrics."):
            wanted.append(field.split(".", 1)[1])
    counts = Counter(k for run in runs for k in run.metrics)
    common = sorted(counts, key=lambda k: (k.startswith("system/"), -counts[k], k))
    keys = list(dict.fromkeys(wanted + common))[:limit]
    return [("metrics", k) for k in keys]


def _cell(run: Run, kind: str, key: str) -> str:
    if kind == "metrics":
        return fmt_number(run.metrics.get(key))
    return (run.params if kind == "params" else run.tags).get(key, "")


@app.command("delete")
def delete(ctx: typer.Context, run_id: RunRef) -> None:
    """Soft-delete a run (restore brings it back; purge removes it for good)."""
    client = state(ctx).client()
    run = client.tracking.delete_run(resolve_run(client, run_id).id)
    note(f"Deleted run {run.id} ({run.name}); undo with `treadle runs restore {run.id}`")


@app.command("restore")
def restore(ctx: typer.Context, run_id: RunRef) -> None:
    """Restore a deleted run."""
    client = state(ctx).client()
    run = client.tracking.restore_run(resolve_run(client, run_id).id)
    note(f"Restored run {run.id} ({run.name})")


@app.command("purge")
def purge(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[RUN_ID]...", help="Deleted runs to purge; every deleted run when omitted."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove deleted runs for good: their metadata and the blobs nothing else references."""
    client = state(ctx).client()
    runs = [resolve_run(client, r) for r in run_ids or []]
    active = [r.id for r in runs if r.lifecycle != "deleted"]
    if active:
        fail(f"delete runs before purging them (`treadle runs delete`); still active: {', '.join(active)}")
    ids = [r.id for r in runs] if run_ids else None
    if not yes:
        if ids is None:
            count = len(client.tracking.search_runs(max_results=50_000, view="deleted").runs)
            if count == 0:
                note("No deleted runs to purge.")
                return
            what = f"all {count} deleted runs"
        else:
            what = plural(len(ids), "run")
        typer.confirm(f"Permanently remove {what}? This cannot be undone", abort=True)
    report = client.tracking.purge_runs(ids)
    note(f"Purged {plural(len(report.runs), 'run')} and {plural(report.blobs_deleted, 'unreferenced blob')}.")
    for run in report.runs:
        note(f"  {run}")
