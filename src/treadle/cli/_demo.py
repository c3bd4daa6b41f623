"""``treadle demo``: fill the store with realistic experiments, then (by default) serve it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import treadle as td
from treadle.cli._context import state
from treadle.cli._demo_base import DemoContext, Scenario
from treadle.cli._output import err, fail, note, out
from treadle.client import Client

# Played in order; later capabilities append theirs (registry, serving, monitoring, ...).
SCENARIOS: list[Scenario] = []


def scenarios() -> list[Scenario]:
    """Every scenario, the built-in scikit-learn ones first (imported lazily: they need the demo extra)."""
    from treadle.cli._demo_classify import IRIS, WINE
    from treadle.cli._demo_data import DATA
    from treadle.cli._demo_features import FEATURES
    from treadle.cli._demo_loop import LOOP
    from treadle.cli._demo_pipelines import PIPELINES
    from treadle.cli._demo_registry import REGISTRY
    from treadle.cli._demo_regress import DIABETES
    from treadle.cli._demo_serving import SERVING

    return [IRIS, WINE, DIABETES, DATA, REGISTRY, SERVING, FEATURES, PIPELINES, *SCENARIOS, LOOP]


def _check_dependencies() -> None:
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        fail(f"treadle demo needs scikit-learn and matplotlib ({exc.name} is missing): pip install 'treadle[demo]'")


def populate(client: Client, plan: list[Scenario]) -> DemoContext:
    """Play every scenario of ``plan`` with one progress bar; returns the context they shared."""
    import warnings

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err()) as progress:
        task = progress.add_task("starting", total=sum(s.runs for s in plan))
        ctx = DemoContext(client, lambda run: progress.update(task, advance=1, description=run))
        for scenario in plan:
            progress.update(task, description=scenario.name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence and probability warnings are the point of a demo
                scenario.play(ctx)
    return ctx


def _summary(client: Client, plan: list[Scenario]) -> Table:
    table = Table(title="demo experiments")
    table.add_column("experiment", style="bold")
    table.add_column("id", style="cyan")
    table.add_column("runs", justify="right")
    for scenario in plan:
        exp = client.tracking.get_experiment_by_name(scenario.name)
        runs = client.tracking.search_runs(experiment_ids=[exp.id], max_results=50_000).runs
        table.add_row(exp.name, exp.id, str(len(runs)))
    return table


def demo(
    ctx: typer.Context,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server once the store is filled.")
    ] = True,
    host: Annotated[str, typer.Option("--host", help="Interface the server listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port the server listens on.")] = 8765,
) -> None:
    """Log example experiments (scikit-learn on iris, wine and diabetes), then serve them.

    Each scenario's experiment is named after it; running the demo again adds runs.
    """
    cli = state(ctx)
    _check_dependencies()
    plan = scenarios()
    client = td.set_uri(cli.uri, cli.artifacts)
    populate(client, plan)
    out().print(_summary(client, plan))
    note("Try: treadle runs list -e iris-classifiers -o 'metrics.val_accuracy DESC'")
    if not serve:
        return
    if cli.uri.startswith(("http://", "https://")):
        note(f"The runs went to the server at {cli.uri}; open it in a browser.")
        return
    from treadle.cli._server import serve as start_server

    start_server(cli.uri, cli.artifacts, host, port, workers=1)
