"""``treadle models``: list, versions, aliases, approval, download and delete (``show``, ``env`` beside)."""

from __future__ import annotations

import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from treadle.cli._context import actor, state
from treadle.cli._models_env import env
from treadle.cli._models_show import history_tree, show
from treadle.cli._models_spec import MAX_VERSION, approval_text
from treadle.cli._output import err, fail, fmt_time, note, out, plural
from treadle.fmt import fmt_size

app = typer.Typer(
    no_args_is_help=True,
    help="Registered models: list, inspect, move aliases, approve, download, build environments, delete.",
)
ModelName = Annotated[str, typer.Argument(metavar="NAME", help="A registered model's name.")]
CACHE_MARKER = ".complete"  # the model cache's "fully downloaded" flag, not a model file


@app.command("list")
def list_models(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Option("--name", "-n", metavar="PATTERN", help="Only names LIKE this ('%' any text).")
    ] = None,
    archived: Annotated[bool, typer.Option("--archived", help="Include archived models.")] = False,
    max_results: Annotated[int, typer.Option("--max", min=1, max=50_000, help="At most this many models.")] = 1000,
) -> None:
    """List registered models: latest version, aliases, last update."""
    models = (
        state(ctx).client().registry.search_models(name_like=name, include_archived=archived, max_results=max_results)
    )
    if not models:
        note("No registered models match." if name else "No models registered yet; see td.register_model.")
        return
    table = Table(title=plural(len(models), "model"))
    table.add_column("name", style="bold")
    table.add_column("latest", justify="right", no_wrap=True)
    table.add_column("aliases")
    table.add_column("updated", no_wrap=True)
    table.add_column("description")
    for m in models:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items()))
        label = Text(m.name)
        if m.lifecycle == "archived":
            label.append(" (archived)", style="dim")
        latest = f"v{m.latest_version}" if m.latest_version else "—"
        table.add_row(label, latest, aliases, fmt_time(m.updated_at), m.description or "")
    out().print(table)


app.command("show")(show)


class Approval(StrEnum):
    """A version's approval state (``--approval``)."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"


@app.command("versions")
def versions(
    ctx: typer.Context,
    name: ModelName,
    approval: Annotated[Approval | None, typer.Option("--approval", help="Only versions in this state.")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="Include archived versions.")] = False,
) -> None:
    """List a model's versions, newest first, with approval, aliases and producing run."""
    registry = state(ctx).client().registry
    registry.get_model(name)  # NotFound for an unknown name, rather than an empty list
    found = registry.search_versions(
        name=name, approval=approval.value if approval else None, include_archived=archived, max_results=50_000
    )
    if not found:
        note(f"Model {name} has no {approval.value + ' ' if approval else ''}versions.")
        return
    table = Table(title=f"{name}: {plural(len(found), 'version')}")
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("approval", no_wrap=True)
    table.add_column("aliases")
    table.add_column("flavor")
    table.add_column("run", style="cyan", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("description")
    for v in found:
        number = Text(f"v{v.version}")
        if v.lifecycle == "archived":
            number.append(" (archived)", style="dim")
        table.add_row(
            number,
            approval_text(v.approval, v.approval_by),
            ", ".join(v.aliases),
            v.flavor or "",
            (v.run_id or "")[:8],
            fmt_time(v.created_at),
            v.description or "",
        )
    out().print(table)


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: ModelName,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion, challenger, production.")],
    version: Annotated[
        int | None, typer.Argument(metavar="VERSION", min=1, max=MAX_VERSION, help="The version to point the alias at.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why (kept in the alias history).")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias (its history stays).")] = False,
    protect: Annotated[
        bool | None,
        typer.Option("--protect/--unprotect", help="A protected alias only points at approved versions."),
    ] = None,
    history: Annotated[bool, typer.Option("--history", help="Print every move of the alias.")] = False,
) -> None:
    """Point ALIAS at VERSION (or delete, protect, unprotect it); --history shows who moved it, when and why."""
    if delete and (version is not None or protect is not None):
        fail("--delete takes no VERSION, --protect or --unprotect")
    if version is None and not delete and protect is None and not history:
        fail("give a VERSION to point the alias at, or --delete, --protect/--unprotect or --history")
    client = state(ctx).client()
    registry, who = client.registry, actor()
    if protect and version is not None:  # check first, so a refused protection does not leave a half-done move
        target = registry.get_version(name, version)
        if target.approval != "approved":
            fail(f"v{version} of {name} is {target.approval}; approve it before pointing a protected alias at it")
    if protect is False:
        registry.protect_alias(name, alias_name, False, actor=who)
        note(f"Alias {alias_name} of {name} is no longer protected.")
    if delete:
        registry.delete_alias(name, alias_name, actor=who, reason=reason)
        note(f"Deleted alias {alias_name} of {name}.")
    if version is not None:
        moved = registry.set_alias(name, alias_name, version, actor=who, reason=reason)
        note(f"{name}@{alias_name} → v{moved.version}{' (protected)' if moved.protected else ''}")
    if protect:
        registry.protect_alias(name, alias_name, True, actor=who)
        note(f"Alias {alias_name} of {name} is protected: it only points at approved versions.")
    if history:
        moves = registry.get_alias_history(name, alias_name)
        if not moves:
            note(f"Alias {alias_name} of {name} has never been set.")
            return
        current = next((a for a in registry.list_aliases(name) if a.alias == alias_name), None)
        out().print(history_tree(alias_name, current, moves))


@app.command("approve")
def approve(
    ctx: typer.Context,
    name: ModelName,
    version: Annotated[int, typer.Argument(min=1, max=MAX_VERSION, help="The version to approve (or reject).")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject the version instead.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why (kept with the decision).")] = None,
) -> None:
    """Approve a version (protected aliases only point at approved versions), or --reject it."""
    registry = state(ctx).client().registry
    decide = registry.reject_version if reject else registry.approve_version
    result = decide(name, version, actor=actor(), reason=reason)
    line = Text(f"{name} v{result.version}: ")
    line.append_text(approval_text(result.approval, result.approval_by))
    if result.approval_reason:
        line.append(f" ({result.approval_reason})")
    out().print(line)


@app.command("download")
def download(
    ctx: typer.Context,
    uri: Annotated[
        str,
        typer.Argument(
            metavar="URI", help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN/PATH, a folder or a URL."
        ),
    ],
    dst: Annotated[Path, typer.Option("--dst", "-d", help="Folder to put the model's files in.")],
) -> None:
    """Download a model's files (verified against their digests) into a folder."""
    client = state(ctx).client()
    with err().status(f"fetching {uri}"):
        folder = client.download_model(uri)
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != CACHE_MARKER]
    if dst.exists() and not dst.is_dir():
        fail(f"{dst} exists and is not a folder")
    if dst.exists() and dst.resolve() == folder.resolve():
        fail(f"{dst} is where the model already is")
    for path in files:
        target = dst / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    size = sum(p.stat().st_size for p in files)
    note(f"Downloaded {plural(len(files), 'file')}, {fmt_size(size)}, to {dst}")


app.command("env")(env)


@app.command("delete")
def delete_model(
    ctx: typer.Context,
    name: ModelName,
    version: Annotated[
        int | None,
        typer.Option(
            "--version", "-v", min=1, max=MAX_VERSION, help="Delete only this version (it must hold no alias)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a model (all versions, aliases and history) or one version, and the blobs only they used."""
    registry = state(ctx).client().registry
    if version is None:
        registry.get_model(name)
        count = len(registry.search_versions(name=name, include_archived=True, max_results=50_000))
        what = f"model {name} and its {plural(count, 'version')}"
    else:
        registry.get_version(name, version)
        what = f"{name} v{version}"
    if not yes:
        typer.confirm(f"Permanently delete {what}? This cannot be undone", abort=True)
    report = registry.delete_version(name, version) if version is not None else registry.delete_model(name)
    gone = ", ".join(f"v{v}" for v in report.versions) or "no versions"
    note(f"Deleted {what} ({gone}) and {plural(report.blobs_deleted, 'unreferenced blob')}.")
