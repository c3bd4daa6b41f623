"""``treadle import mlflow --from URI``: copy an MLflow store (server, database or mlruns directory) into treadle."""

from __future__ import annotations

from typing import Annotated

import typer

from treadle.cli._context import state

app = typer.Typer(no_args_is_help=True, help="Import runs and models from other tools.")


@app.command("mlflow")
def mlflow(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="URI",
            help="MLflow tracking URI (http://host:5000, sqlite:///mlflow.db) or an mlruns directory.",
        ),
    ],
    mlflow_python: Annotated[
        str | None,
        typer.Option(
            "--mlflow-python",
            metavar="PATH",
            help="A python with mlflow installed (default: $TREADLE_MLFLOW_PYTHON, else ./.venv-mlflow/bin/python).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Copy experiments, runs (params, full metric histories, tags, artifacts), registered models,
    versions and aliases. Rerunning imports only what is new."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from treadle.cli._mlflow_import import find_mlflow_python, run_import

    python = find_mlflow_python(mlflow_python)
    client = state(ctx).client()
    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading the MLflow store", total=None)

        def progress(what: str) -> None:
            bar.update(task, description=what[:60])

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        counts = run_import(client, source, python, progress, advance)
    table = Table(title=f"Imported from {source}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in sorted(counts):
        table.add_row(key, str(counts[key]))
    if not counts:
        table.add_row("nothing", "0")
    Console().print(table)
