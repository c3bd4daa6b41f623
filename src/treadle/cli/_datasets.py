"""``treadle datasets``: create, list, versions, alias, download and delete (``show``/``diff`` beside)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

import treadle.datasets as tds
from treadle.cli._context import actor, state
from treadle.cli._datasets_show import DatasetName, diff, resolve_ref, show
from treadle.cli._output import err, fail, fmt_time, note, out, plural
from treadle.client import Client
from treadle.datasets import DatasetVersion
from treadle.errors import NotFound
from treadle.fmt import fmt_size

app = typer.Typer(
    no_args_is_help=True,
    help="Versioned datasets: create, list, inspect, diff, download, alias and delete.",
)


WIDE = 120  # consoles at least this wide get full creation times


class Kind(StrEnum):
    """What a version holds (``--kind``)."""

    table = "table"
    files = "files"


class Format(StrEnum):
    """One-file formats a table downloads as (``--format``)."""

    parquet = "parquet"
    csv = "csv"


def _tags(specs: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in specs or []:
        key, sep, value = spec.partition("=")
        if not sep or not key.strip():
            fail(f"tag {spec!r} must look like KEY=VALUE")
        tags[key.strip()] = value
    return tags


def _schema(spec: str | None) -> Any:
    """``infer``, or a pandera schema saved as YAML (``schema.to_yaml()``)."""
    if spec is None or spec == "infer":
        return spec
    path = Path(spec)
    if not path.is_file():
        fail(f"--schema must be 'infer' or a pandera schema YAML file; {spec!r} is neither")
    import pandera.pandas as pdr

    try:
        return pdr.DataFrameSchema.from_yaml(path.read_text())
    except Exception as exc:  # pandera raises several types for a malformed file
        fail(f"cannot read the pandera schema in {spec}: {exc}")


def _latest(client: Client, name: str) -> DatasetVersion | None:
    try:
        return client.datasets.resolve(name)
    except NotFound:
        return None


@app.command("create")
def create(
    ctx: typer.Context,
    name: DatasetName,
    source: Annotated[
        str,
        typer.Argument(metavar="SOURCE", help="A file, a folder, a glob or a URL (s3://, https://, file://)."),
    ],
    description: Annotated[str | None, typer.Option("--description", "-d", help="What the data is.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", metavar="KEY=VALUE", help="A tag (repeatable).")
    ] = None,
    kind: Annotated[
        Kind | None, typer.Option("--kind", help="table or files [default: files for folders of non-tabular files]")
    ] = None,
    alias: Annotated[str | None, typer.Option("--alias", "-a", help="Point this alias at the new version.")] = None,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            metavar="infer|FILE.yaml",
            help="Validate rows: 'infer' holds new versions to the first one's columns and types; "
            "or a pandera schema YAML file.",
        ),
    ] = None,
) -> None:
    """Snapshot SOURCE as the next version of dataset NAME (nothing is added when the content is unchanged)."""
    tags, checker = _tags(tag), _schema(schema)
    client = state(ctx).client()
    before = _latest(client, name)
    with err().status(f"snapshotting {source}"):
        version = tds.create(
            name, source, description=description, tags=tags, schema=checker,
            kind=kind.value if kind else None, alias=alias, created_by=actor(), client=client,
        )  # fmt: skip
    unchanged = before is not None and before.version == version.version
    line = Text(f"{version.name} v{version.version}", style="bold cyan")
    line.append(" unchanged: it already holds this content" if unchanged else " created")
    what = plural(version.num_rows, "row") if version.kind == "table" else plural(version.num_files, "file")
    line.append(f" ({version.kind}, {what}, {fmt_size(version.size_bytes)}, digest {version.digest[:12]})")
    if alias:
        line.append(f"; {alias} → v{version.version}")
    out().print(line, soft_wrap=True)
    note(f"Read it with td.datasets.get({version.name!r}, {version.version}) — uri {version.uri}")


@app.command("list")
def list_datasets(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Text in the name or description.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", "-t", metavar="KEY[=VALUE]", help="Only with this tag.")] = None,
    column: Annotated[
        str | None, typer.Option("--column", "-c", help="Only datasets with a column of this name.")
    ] = None,
    max_results: Annotated[int, typer.Option("--max", "-n", min=1, max=1000, help="At most this many.")] = 100,
) -> None:
    """List datasets (newest first), searched by name/description, tag and column."""
    found = state(ctx).client().datasets.search(query=query, tag=tag, column=column, max_results=max_results)
    if not found:
        filtered = query or tag or column
        note("No datasets match." if filtered else "No datasets yet; create one with `treadle datasets create`.")
        return
    table = Table(title=plural(len(found), "dataset"))
    table.add_column("name", style="bold")
    table.add_column("latest", justify="right", no_wrap=True)
    table.add_column("aliases")
    table.add_column("tags")
    table.add_column("updated", no_wrap=True)
    table.add_column("description")
    for d in found:
        table.add_row(
            d.name,
            f"v{d.latest_version}" if d.latest_version else "—",
            ", ".join(f"{a}→v{v}" for a, v in sorted(d.aliases.items())),
            ", ".join(f"{k}={v}" for k, v in sorted(d.tags.items())),
            fmt_time(d.updated_at),
            d.description or "",
        )
    out().print(table)


app.command("show")(show)


@app.command("versions")
def versions(ctx: typer.Context, name: DatasetName) -> None:
    """List a dataset's versions, newest first: kind, rows, files, size, aliases, digest, producing run."""
    found = state(ctx).client().datasets.list_versions(name)
    if not found:
        note(f"Dataset {name} has no versions yet.")
        return
    console = out()
    with_run = any(v.run_id for v in found)
    table = Table(title=f"{name}: {plural(len(found), 'version')}")
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("aliases")
    table.add_column("digest", no_wrap=True)
    if with_run:
        table.add_column("run", style="cyan", no_wrap=True)
    table.add_column("created", no_wrap=True)
    for v in found:
        cells = [f"v{v.version}", v.kind, f"{v.num_rows:,}", f"{v.num_files:,}", fmt_size(v.size_bytes),
                 ", ".join(v.aliases), v.digest[:8]]  # fmt: skip
        if with_run:
            cells.append((v.run_id or "")[:8])
        table.add_row(*cells, fmt_time(v.created_at, short=console.width < WIDE))
    console.print(table)


app.command("diff")(diff)


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: DatasetName,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. prod, train, golden.")],
    version: Annotated[
        int | None, typer.Argument(metavar="VERSION", min=1, help="The version to point the alias at.")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
) -> None:
    """Point ALIAS at VERSION (or --delete it); `get(NAME, ALIAS)` then reads that version."""
    if delete == (version is not None):
        fail("give a VERSION to point the alias at, or --delete (not both)")
    datasets = state(ctx).client().datasets
    if delete:
        datasets.delete_alias(name, alias_name)
        note(f"Deleted alias {alias_name} of dataset {name}.")
        return
    assert version is not None
    datasets.set_alias(name, alias_name, version)
    note(f"{name}@{alias_name} → v{version}")


def _write_table(client: Client, version: DatasetVersion, fmt: Format, where: str) -> Path:
    """The table's parts, one at a time, into a single Parquet or CSV file (``where``: a file, or a
    folder, existing or ending in ``/``, to put ``NAME-vN.FORMAT`` in)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    dest = Path(where)
    if dest.is_dir() or where.endswith(("/", os.sep)):
        dest = dest / f"{version.name}-v{version.version}.{fmt.value}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle = tds.get(version.name, version.version, client=client)
    parts = [f for f in handle.files() if f.path.startswith("part-") and f.path.endswith(".parquet")]
    writer: Any = None
    try:
        for part in parts:
            table = pq.read_table(pa.BufferReader(part.read_bytes()))
            if writer is None:
                make = pq.ParquetWriter if fmt is Format.parquet else pacsv.CSVWriter
                writer = make(str(dest), table.schema)
            writer.write_table(table.cast(writer.schema) if fmt is Format.parquet else table)
        if writer is None:  # no parts: still write the (empty) schema
            empty = handle.to_arrow()
            (pq.write_table if fmt is Format.parquet else pacsv.write_csv)(empty, str(dest))
    finally:
        if writer is not None:
            writer.close()
    return dest


@app.command("download")
def download(
    ctx: typer.Context,
    name: DatasetName,
    where: Annotated[
        list[str],
        typer.Argument(metavar="[VERSION] DEST", help="Version (number or alias; default latest) and destination."),
    ],
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="Tables only: write one file (DEST a file, or a folder to put it in)."),
    ] = None,
) -> None:
    """Download a version: a collection's files or a table's Parquet parts into the folder DEST,
    or with --format a table as one Parquet/CSV file. Every file is verified against its digest."""
    if len(where) not in (1, 2):
        fail("give [VERSION] DEST: at most a version and a destination")
    ref, dest = (None, where[0]) if len(where) == 1 else (where[0], where[1])
    client = state(ctx).client()
    version = resolve_ref(client, name, ref)
    target = Path(dest)
    if fmt is not None:
        if version.kind != "table":
            fail(f"{version.uri} is a file collection; --format writes tables (omit it to download the files)")
        with err().status(f"writing {version.uri}"):
            written = _write_table(client, version, fmt, dest)
        size = fmt_size(written.stat().st_size)
        note(f"Wrote {plural(version.num_rows, 'row')} of {version.uri} to {written} ({size})")
        return
    if target.exists() and not target.is_dir():
        fail(f"{target} exists and is not a folder (use --format to write a table as one file)")
    with err().status(f"downloading {version.uri}"):
        tds.get(name, version.version, client=client).download(target)
    note(
        f"Downloaded {plural(version.num_files, 'file')}, {fmt_size(version.size_bytes)}, of {version.uri} to {target}"
    )


@app.command("delete")
def delete_dataset(
    ctx: typer.Context,
    name: DatasetName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a dataset, all its versions and aliases, and the blobs nothing else uses."""
    datasets = state(ctx).client().datasets
    count = len(datasets.list_versions(name))  # NotFound for an unknown name
    what = f"dataset {name} and its {plural(count, 'version')}"
    if not yes:
        typer.confirm(f"Permanently delete {what}? This cannot be undone", abort=True)
    freed = datasets.delete_dataset(name)
    note(f"Deleted {what} and {plural(freed, 'unreferenced blob')}.")
