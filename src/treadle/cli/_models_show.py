"""``treadle models show``: a model (aliases with their history, versions) or one version in full."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from treadle.cli._context import state
from treadle.cli._models_spec import MAX_VERSION, approval_text, move_text
from treadle.cli._output import fmt_number, fmt_time, key_value_grid, out
from treadle.client import Client
from treadle.errors import NotFound
from treadle.fmt import fmt_size
from treadle.models import describe_manifest, signature_rows
from treadle.registry import Alias, AliasMove, ModelVersion, RegisteredModel


def _table(title: str, headers: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    for header in headers:
        table.add_column(header)
    return table


def history_tree(alias: str, current: Alias | None, moves: list[AliasMove]) -> Tree:
    """An alias and its moves, oldest first: when, who, from → to, why."""
    label = Text(alias, style="bold")
    if current is not None:
        label.append(f" → v{current.version}" if current.version is not None else " (not set)")
        if current.protected:
            label.append(" protected", style="magenta")
    tree = Tree(label)
    for move in moves:
        line = Text(fmt_time(move.at), style="dim")
        line.append(f"  {move.actor or 'unknown'}  ")
        line.append(move_text(move.from_version, move.to_version), style="cyan")
        if move.reason:
            line.append(f"  “{move.reason}”")
        tree.add(line)
    return tree


def _model_parts(client: Client, model: RegisteredModel) -> list[RenderableType]:
    registry = client.registry
    parts: list[RenderableType] = [
        key_value_grid(
            [
                ("model", Text(model.name, style="bold cyan")),
                ("description", model.description or ""),
                ("owner", model.owner or ""),
                ("lifecycle", Text(model.lifecycle, style="red") if model.lifecycle == "archived" else ""),
                ("latest", f"v{model.latest_version}" if model.latest_version else "no versions yet"),
                ("created", fmt_time(model.created_at)),
                ("updated", fmt_time(model.updated_at)),
                ("tags", ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items()))),
            ]
        )
    ]
    aliases = registry.list_aliases(model.name)
    if aliases:
        moves = registry.get_alias_history(model.name)
        root = Tree(Text("aliases (history oldest first)", style="italic"), guide_style="dim")
        for a in aliases:
            root.children.append(history_tree(a.alias, a, [m for m in moves if m.alias == a.alias]))
        parts.append(root)
    found = registry.search_versions(name=model.name, include_archived=True, max_results=50_000)
    if found:
        table = _table(f"versions ({len(found)})", ("version", "approval", "aliases", "flavor", "run", "created"))
        for v in found:
            number = Text(f"v{v.version}") + (Text(" archived", style="dim") if v.lifecycle == "archived" else Text())
            table.add_row(
                number,
                approval_text(v.approval, v.approval_by),
                ", ".join(v.aliases),
                v.flavor or "",
                Text((v.run_id or "")[:8], style="cyan"),
                fmt_time(v.created_at),
            )
        parts.append(table)
    return parts


def _run_metrics(client: Client, run_id: str | None) -> dict[str, float]:
    if run_id is None:
        return {}
    try:
        return client.get_run(run_id).metrics
    except NotFound:  # the run was purged; the version outlives it
        return {}


def _version_parts(client: Client, v: ModelVersion) -> list[RenderableType]:
    registry = client.registry
    files = registry.list_version_files(v.name, v.version)
    spec = describe_manifest(client.blobs, files)
    needs = registry.get_version_needs(v.name, v.version)
    approval = approval_text(v.approval, v.approval_by)
    if v.approval_reason:
        approval.append(f" ({v.approval_reason})")
    parts: list[RenderableType] = [
        key_value_grid(
            [
                ("version", Text(f"{v.name} v{v.version}", style="bold cyan")),
                ("uri", v.uri),
                ("approval", approval),
                ("aliases", ", ".join(v.aliases)),
                ("flavor", v.flavor or ""),
                ("status", v.status if v.status == "READY" else f"{v.status}: {v.status_message or ''}"),
                ("lifecycle", Text(v.lifecycle, style="red") if v.lifecycle == "archived" else ""),
                ("source", v.source),
                ("run", Text(v.run_id or "", style="cyan")),
                ("created", f"{fmt_time(v.created_at)}{' by ' + v.created_by if v.created_by else ''}"),
                ("description", v.description or ""),
                ("tags", ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items()))),
                ("python", needs.python or ""),
                ("digest", v.digest or ""),
            ]
        )
    ]
    signature = signature_rows(spec)
    if signature:
        table = _table("signature", ("", "name", "dtype", "shape"))
        for row in signature:
            table.add_row(row.direction, row.name or "(unnamed)", row.dtype, row.shape)
        parts.append(table)
    requirements = _table("requirements", ("package",))
    for req in needs.requirements:
        requirements.add_row(req)
    parts.append(requirements if needs.requirements else Text("requirements: none recorded", style="dim"))
    metrics = _run_metrics(client, v.run_id)
    if metrics:
        table = _table("run metrics", ("key", "latest"))
        table.columns[1].justify = "right"
        for key, value in sorted(metrics.items()):
            table.add_row(key, fmt_number(value))
        parts.append(table)
    if needs.inputs:
        table = _table("trained on", ("name", "type", "uri"))
        for node in needs.inputs:
            table.add_row(str(node.get("name", "")), str(node.get("type", "")), str(node.get("uri") or ""))
        parts.append(table)
    table = _table(f"files ({len(files)})", ("path", "size"))
    table.columns[1].justify = "right"
    for f in files:
        table.add_row(f.path, fmt_size(f.size))
    parts.append(table)
    return parts


def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A registered model's name.")],
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            "-v",
            min=1,
            max=MAX_VERSION,
            help="Show this version: signature, requirements, run metrics, files.",
        ),
    ] = None,
) -> None:
    """Show a model (aliases with their history, versions with approval) or, with --version, one version."""
    client = state(ctx).client()
    parts: list[Any]
    if version is None:
        parts = _model_parts(client, client.registry.get_model(name))
    else:
        parts = _version_parts(client, client.registry.get_version(name, version))
    spaced = [parts[0], *(Padding(p, (1, 0, 0, 0)) for p in parts[1:])]
    out().print(Group(*spaced))
