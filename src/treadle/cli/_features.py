"""``treadle features``: apply definitions (with a diff), list, show, materialize, training frames."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from treadle.cli._context import state
from treadle.cli._output import err, fail, fmt_time, note, out, plural

if TYPE_CHECKING:
    from treadle.features import ApplyReport, FeatureService

app = typer.Typer(
    no_args_is_help=True,
    help="Feature store: apply definitions, list and show views, materialize to the online store.",
)
ACTION_STYLES = {"created": "green", "updated": "yellow", "unchanged": "dim"}


def _service(ctx: typer.Context) -> FeatureService:
    client = state(ctx).client()
    service = getattr(client, "features", None)
    if service is None:
        fail("this backend has no feature service")
    return service


def _value(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def print_report(report: ApplyReport) -> None:
    title = ("Dry run: " if report.dry_run else "") + plural(len(report.objects), "definition")
    table = Table(title=title)
    table.add_column("kind")
    table.add_column("name", style="bold")
    table.add_column("action")
    table.add_column("version", justify="right")
    table.add_column("changes")
    for obj in report.objects:
        action = obj.action if not report.dry_run or obj.action == "unchanged" else f"would be {obj.action}"
        changes = "\n".join(f"{c.path}: {_value(c.old)} → {_value(c.new)}" for c in obj.changes)
        table.add_row(
            obj.kind.replace("_", " "),
            obj.name,
            Text(action, style=ACTION_STYLES[obj.action]),
            f"v{obj.version}" if obj.version else "",
            changes,
        )
    out().print(table)
    for warning in report.warnings:
        err().print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)


@app.command("apply")
def apply(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A Python file, or a folder of them, defining entities and views.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
) -> None:
    """Register the definitions in PATH; each changed view becomes a new version."""
    from treadle.features._repo import load_definitions

    definitions = load_definitions(path)
    if not definitions:
        fail(f"no Entity, FeatureView or OnDemandFeatureView objects found in {path}")
    print_report(_service(ctx).apply([d.spec() for d in definitions], dry_run=dry_run))


@app.command("list")
def list_views(
    ctx: typer.Context,
    entity: Annotated[str | None, typer.Option("--entity", "-e", help="Only views of this entity.")] = None,
) -> None:
    """List entities and feature views (latest versions)."""
    service = _service(ctx)
    entities = service.list_entities()
    views = service.list_views(entity=entity)
    if not entities and not views:
        note("No feature definitions yet; see `treadle features apply PATH`.")
        return
    if entity is None:
        table = Table(title=f"{len(entities)} {'entity' if len(entities) == 1 else 'entities'}")
        table.add_column("entity", style="bold")
        table.add_column("join keys")
        table.add_column("description")
        for e in entities:
            table.add_row(e.name, ", ".join(e.join_keys), e.description or "")
        out().print(table)
    table = Table(title=plural(len(views), "feature view"))
    table.add_column("view", style="bold")
    table.add_column("version", justify="right")
    table.add_column("entities")
    table.add_column("features")
    table.add_column("online")
    table.add_column("updated", no_wrap=True)
    for v in views:
        kind = "" if v.kind == "feature_view" else " (on demand)"
        table.add_row(
            v.name + kind,
            f"v{v.version}",
            ", ".join(v.entities),
            ", ".join(f["name"] for f in v.features),
            "yes" if v.online else "no",
            fmt_time(v.updated_at),
        )
    out().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A feature view's name.")],
    version: Annotated[int | None, typer.Option("--version", "-v", help="This version (default: latest).")] = None,
) -> None:
    """Show a view: features, entities, source, TTL, and its versions."""
    service = _service(ctx)
    view = service.get_view(name, version)
    spec = view.spec
    console = out()
    console.print(
        Text(f"{view.name} v{view.version}", style="bold"), Text(f"(latest v{view.latest_version})", style="dim")
    )
    rows = [
        ("kind", view.kind.replace("_", " ")),
        ("entities", ", ".join(view.entities)),
        ("source", json.dumps(spec.get("source") or spec.get("source_views"), default=str)),
        ("timestamp", spec.get("timestamp_field") or ""),
        ("ttl", f"{spec['ttl_seconds']:g} s" if spec.get("ttl_seconds") else "none"),
        ("online", "yes" if view.online else "no"),
        ("owner", view.owner or ""),
        ("description", view.description or ""),
        ("tags", ", ".join(f"{k}={v}" for k, v in view.tags.items())),
    ]
    for key, value in rows:
        if value:
            console.print(Text(f"{key:>12}  ", style="dim") + Text(str(value)))
    features = Table(title="features")
    features.add_column("name", style="bold")
    features.add_column("dtype")
    for f in view.features:
        features.add_row(f["name"], f["dtype"])
    console.print(features)
    versions = Table(title="versions")
    versions.add_column("version", justify="right")
    versions.add_column("created", no_wrap=True)
    versions.add_column("digest")
    for v in service.view_versions(name):
        versions.add_row(f"v{v.version}", fmt_time(v.created_at), v.digest[:12])
    console.print(versions)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A feature view's name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a view, its versions and its online values."""
    if not yes:
        typer.confirm(f"Delete feature view {name!r} and all its versions?", abort=True)
    deleted = _service(ctx).delete_view(name)
    note(f"Deleted {deleted.name} ({plural(deleted.latest_version, 'version')}).")


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO date/time (e.g. 2024-05-01T12:00:00+00:00)")
    if when.tzinfo is None:
        fail(f"{option} {text!r} has no time zone; add one (e.g. +00:00 or Z)")
    return when


@app.command("materialize")
def materialize(
    ctx: typer.Context,
    views: Annotated[
        list[str] | None, typer.Argument(help="Views to materialize (default: every online view).")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Rewrite the whole history, not only what is new.")] = False,
    start: Annotated[str | None, typer.Option("--start", help="Event time to start at (ISO, with time zone).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Event time to stop before (ISO; default now).")] = None,
) -> None:
    """Write the latest feature values per entity to the online store."""
    client = state(ctx).client()
    service = _service(ctx)
    local = getattr(getattr(client, "_backend", None), "store", None) is not None
    report = service.materialize(
        views=views or None,
        start=_when(start, "--start"),
        end=_when(end, "--end"),
        incremental=not full,
        progress=local,
    )
    table = Table(title=f"Materialized {plural(len(report.views), 'view')} in {report.seconds:.1f} s")
    for column in ("view", "version", "mode", "rows read", "entities written", "seconds"):
        table.add_column(column, justify="left" if column in ("view", "mode") else "right")
    for v in report.views:
        mode = "up to date" if v.status == "up_to_date" else "incremental" if v.incremental else "full"
        table.add_row(v.view, f"v{v.version}", mode, f"{v.source_rows:,}", f"{v.applied:,}", f"{v.seconds:.2f}")
    out().print(table)


@app.command("training-frame")
def training_frame(
    ctx: typer.Context,
    entities: Annotated[Path, typer.Argument(help="Entity rows: a Parquet or CSV file with join keys and timestamps.")],
    features: Annotated[list[str], typer.Option("--feature", "-f", help="A 'view:feature' reference (repeatable).")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Where to write the frame (.parquet or .csv).")],
    timestamp_column: Annotated[str, typer.Option("--timestamp-column", help="The entity rows' time column.")] = (
        "event_timestamp"
    ),
    full_names: Annotated[bool, typer.Option("--full-names", help="Name columns view__feature.")] = False,
) -> None:
    """Join point-in-time correct features onto entity rows and write the result."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from treadle.features import get_training_frame

    if not entities.is_file():
        fail(f"{entities} does not exist")
    table = pq.read_table(entities) if entities.suffix == ".parquet" else pcsv.read_csv(entities)
    frame = get_training_frame(
        table, features, full_names=full_names, timestamp_column=timestamp_column, client=state(ctx).client()
    )
    if output.suffix == ".csv":
        pcsv.write_csv(frame, output)
    else:
        pq.write_table(frame, output)
    note(f"Wrote {frame.num_rows:,} rows, {frame.num_columns} columns to {output}.")
