"""``treadle runs show`` and ``treadle runs compare``: one run in full, or several side by side."""

from __future__ import annotations

import math
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from treadle.cli._context import resolve_run, state
from treadle.cli._output import fail, fmt_number, fmt_time, out, status_text
from treadle.client import Client
from treadle.errors import NotFound
from treadle.fmt import fmt_duration, fmt_size
from treadle.lineage import Node
from treadle.tracking import Run

SYSTEM_TAG_PREFIX = "treadle."


def _key_value_table(
    title: str, rows: list[tuple[str, str]], headers: tuple[str, str] = ("key", "value"), numeric: bool = False
) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, min_width=len(title))
    table.add_column(headers[0], style="bold")
    table.add_column(headers[1], justify="right" if numeric else "left")
    for key, value in rows:
        table.add_row(key, value)
    return table


def _inputs(client: Client, run: Run) -> list[Node]:
    """What the run consumed, from the lineage graph (input edges into the run's node)."""
    try:
        node = client.lineage.find_node(f"run:{run.id}")
    except NotFound:
        return []
    graph = client.lineage.upstream(node.id, hops=1)
    sources = {e.source for e in graph.edges if e.type == "input" and e.target == node.id}
    return [n for n in graph.nodes if n.id in sources]


def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id, or a unique prefix of one.")],
) -> None:
    """Show a run: attributes, params, latest metrics, tags, inputs and artifacts."""
    client = state(ctx).client()
    run = resolve_run(client, run_id)
    experiment = client.tracking.get_experiment(run.experiment_id)
    attributes = Table.grid(padding=(0, 2))
    attributes.add_column(style="bold")
    attributes.add_column()
    for key, value in (
        ("run id", Text(run.id, style="cyan")),
        ("name", Text(run.name)),
        ("experiment", Text(f"{experiment.name} ({experiment.id})")),
        ("status", status_text(run.status)),
        ("lifecycle", Text(run.lifecycle, style="red" if run.lifecycle == "deleted" else "")),
        ("parent", Text(run.parent_id or "")),
        ("started", Text(fmt_time(run.start_time))),
        ("ended", Text(fmt_time(run.end_time))),
        ("duration", Text(fmt_duration(run.start_time, run.end_time))),
        ("description", Text(run.description or "")),
    ):
        if value.plain:
            attributes.add_row(key, value)
    parts: list[Table] = [attributes]
    if run.params:
        parts.append(_key_value_table("params", sorted(run.params.items())))
    if run.metrics:
        metrics = [(k, fmt_number(v)) for k, v in sorted(run.metrics.items())]
        parts.append(_key_value_table("metrics", metrics, ("key", "latest"), numeric=True))
    user_tags = sorted((k, v) for k, v in run.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX))
    system_tags = sorted((k, v) for k, v in run.tags.items() if k.startswith(SYSTEM_TAG_PREFIX))
    if user_tags:
        parts.append(_key_value_table("tags", user_tags))
    if system_tags:
        parts.append(_key_value_table("environment", system_tags))
    inputs = _inputs(client, run)
    if inputs:
        parts.append(_key_value_table("inputs", [(n.name, n.uri or "") for n in inputs], ("name", "uri")))
    files = client.list_artifacts(run.id)
    if files:
        table = Table(title=f"artifacts ({len(files)})", title_justify="left", show_edge=False)
        table.add_column("path")
        table.add_column("size", justify="right")
        for f in files:
            table.add_row(f.path, fmt_size(f.size))
        parts.append(table)
    out().print(Group(*parts))


def _differs(values: list[str | float | None]) -> bool:
    seen = {("nan" if isinstance(v, float) and math.isnan(v) else v) for v in values}
    return len(seen) > 1


def compare(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(metavar="RUN_ID...", help="Two or more run ids (or prefixes).")],
    only_diff: Annotated[bool, typer.Option("--only-diff", help="Show only rows whose values differ.")] = False,
) -> None:
    """Compare runs side by side: params and latest metrics, differences highlighted."""
    if len(run_ids) < 2:
        fail("compare needs at least two runs")
    client = state(ctx).client()
    runs = [resolve_run(client, r) for r in run_ids]
    names = {e.id: e.name for e in client.tracking.list_experiments(view="all")}
    table = Table(title=f"{len(runs)} runs", caption="≠ marks rows whose values differ")
    table.add_column("", width=1, no_wrap=True)
    table.add_column("", style="bold")
    for run in runs:
        table.add_column(f"{run.name}\n{run.id[:8]}", justify="right")
    rows: list[tuple[str, list[str | float | None], list[str]]] = []
    for key, attr in (
        ("experiment", [names.get(r.experiment_id, r.experiment_id) for r in runs]),
        ("status", [r.status for r in runs]),
    ):
        rows.append((key, list(attr), [str(a) for a in attr]))
    for key in sorted({k for r in runs for k in r.params}):
        values: list[str | float | None] = [r.params.get(key) for r in runs]
        rows.append((f"params.{key}", values, ["" if v is None else str(v) for v in values]))
    for key in sorted({k for r in runs for k in r.metrics}):
        metric_values: list[str | float | None] = [r.metrics.get(key) for r in runs]
        rows.append((f"metrics.{key}", metric_values, [fmt_number(r.metrics.get(key)) for r in runs]))
    shown = 0
    for key, raw, cells in rows:
        differs = _differs(raw)
        if only_diff and not differs:
            continue
        shown += 1
        table.add_row("≠" if differs else "", key, *cells, style="bold yellow" if differs else None)
    if only_diff and shown == 0:
        out().print(Text("The runs have the same params and metrics."))
        return
    out().print(table)
