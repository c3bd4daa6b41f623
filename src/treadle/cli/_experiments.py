"""``treadle experiments``: list, create, delete, restore and rename experiments."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from treadle.cli._context import View, resolve_experiment, state
from treadle.cli._output import fmt_time, note, out

app = typer.Typer(no_args_is_help=True, help="List, create, delete, restore and rename experiments.")

ExperimentRef = Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="Experiment id or name.")]


@app.command("list")
def list_experiments(
    ctx: typer.Context,
    view: Annotated[View, typer.Option("--view", help="Which lifecycle to show.")] = View.active,
) -> None:
    """List experiments, newest first."""
    experiments = state(ctx).client().tracking.list_experiments(view=view.value)
    if not experiments:
        note("No experiments." if view is View.all else f"No {view.value} experiments.")
        return
    table = Table(title=f"{len(experiments)} experiments")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("name", style="bold")
    if view is not View.active:
        table.add_column("lifecycle")
    table.add_column("created", no_wrap=True)
    table.add_column("description")
    table.add_column("tags")
    for exp in experiments:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(exp.tags.items()))
        life = [exp.lifecycle] if view is not View.active else []
        table.add_row(exp.id, exp.name, *life, fmt_time(exp.created_at), exp.description or "", tags)
    out().print(table)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name no other experiment has (deleted ones included).")],
    description: Annotated[str | None, typer.Option("--description", "-d", help="What the experiment is for.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", metavar="KEY=VALUE", help="A tag (repeatable).")
    ] = None,
) -> None:
    """Create an experiment."""
    tags = dict(_split_tag(t) for t in tag or [])
    exp = state(ctx).client().create_experiment(name, description, tags or None)
    note(f"Created experiment {exp.id} ({exp.name})")


@app.command("delete")
def delete(ctx: typer.Context, experiment: ExperimentRef) -> None:
    """Soft-delete an experiment and its runs (restore brings them back)."""
    client = state(ctx).client()
    exp = client.tracking.delete_experiment(resolve_experiment(client, experiment).id)
    note(f"Deleted experiment {exp.id} ({exp.name}); undo with `treadle experiments restore {exp.id}`")


@app.command("restore")
def restore(ctx: typer.Context, experiment: ExperimentRef) -> None:
    """Restore a deleted experiment and the runs deleted with it."""
    client = state(ctx).client()
    exp = client.tracking.restore_experiment(resolve_experiment(client, experiment).id)
    note(f"Restored experiment {exp.id} ({exp.name})")


@app.command("rename")
def rename(
    ctx: typer.Context,
    experiment: ExperimentRef,
    new_name: Annotated[str, typer.Argument(metavar="NAME", help="The new, unused name.")],
) -> None:
    """Rename an experiment."""
    client = state(ctx).client()
    before = resolve_experiment(client, experiment)
    exp = client.tracking.rename_experiment(before.id, new_name)
    note(f"Renamed experiment {exp.id} from {before.name} to {exp.name}")


def _split_tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--tag")
    return key.strip(), value
