"""``treadle artifacts list|download`` and ``treadle gc``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from treadle.artifacts import ArtifactFile, clean_path, hash_file
from treadle.cli._context import resolve_run, state
from treadle.cli._output import err, fmt_time, note, out, plural
from treadle.errors import NotFound
from treadle.fmt import fmt_size

app = typer.Typer(no_args_is_help=True, help="List and download a run's artifacts.")

RunRef = Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id, or a unique prefix of one.")]
GC_SHOWN = 20


@app.command("list")
def list_artifacts(
    ctx: typer.Context,
    run_id: RunRef,
    prefix: Annotated[str, typer.Option("--prefix", help="Only files under this folder.")] = "",
) -> None:
    """List a run's artifact files."""
    client = state(ctx).client()
    run = resolve_run(client, run_id)
    files = client.list_artifacts(run.id, prefix)
    if not files:
        note(f"Run {run.id} has no artifacts{' under ' + prefix if prefix else ''}.")
        return
    table = Table(title=f"{len(files)} files, {fmt_size(sum(f.size for f in files))}")
    table.add_column("path")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("digest", style="dim", no_wrap=True)
    table.add_column("logged", no_wrap=True)
    for f in files:
        table.add_row(f.path, fmt_size(f.size), f.digest[:12], fmt_time(f.created_at))
    out().print(table)


def _select(files: list[ArtifactFile], path: str) -> tuple[str, list[ArtifactFile]]:
    """The file named ``path``, or every file under the folder ``path`` (all for "")."""
    wanted = clean_path(path) if path else ""
    exact = [f for f in files if f.path == wanted]
    return wanted, exact or [f for f in files if not wanted or f.path.startswith(wanted + "/")]


def _is_current(local: Path, f: ArtifactFile) -> bool:
    return local.is_file() and local.stat().st_size == f.size and hash_file(local).digest == f.digest


@app.command("download")
def download(
    ctx: typer.Context,
    run_id: RunRef,
    path: Annotated[str, typer.Argument(help="A file or folder of the run; everything when omitted.")] = "",
    dst: Annotated[Path, typer.Option("--dst", "-d", help="Local folder to download into.")] = Path("."),
) -> None:
    """Download a run's artifact file or folder (files already there and identical are skipped)."""
    client = state(ctx).client()
    run = resolve_run(client, run_id)
    wanted, chosen = _select(client.list_artifacts(run.id), path)
    if not chosen:
        raise NotFound(f"run {run.id} has no artifact {path!r}; see `treadle artifacts list {run.id}`")
    total = sum(f.size for f in chosen)
    skipped = 0
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err(), transient=True) as progress:
        task = progress.add_task("downloading", total=total)
        for f in chosen:
            local = dst / f.path
            progress.update(task, description=f.path)
            if _is_current(local, f):
                skipped += 1
            else:
                client.blobs.download(f.digest, local)
            progress.advance(task, f.size)
    where = dst / wanted if wanted else dst
    extra = f" ({skipped} already up to date)" if skipped else ""
    note(f"Downloaded {plural(len(chosen), 'file')}, {fmt_size(total)}, to {where}{extra}")


def gc(
    ctx: typer.Context,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the blobs (default: only report them).")] = False,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0, metavar="SECONDS", help="Keep blobs younger than this (uploads in flight)."),
    ] = 3600.0,
) -> None:
    """Find blobs no run, model or dataset references; --delete removes them."""
    client = state(ctx).client()
    with err().status("scanning the artifact store"):
        report = client.gc(dry_run=not delete, grace_s=grace)
    orphans = report.unreferenced
    note(f"{report.blobs} blobs stored, {report.referenced} referenced, {len(orphans)} unreferenced.")
    if orphans:
        table = Table(show_header=False, show_edge=False, box=None)
        table.add_column(style="dim")
        for digest in orphans[:GC_SHOWN]:
            table.add_row(digest)
        if len(orphans) > GC_SHOWN:
            table.add_row(f"... and {len(orphans) - GC_SHOWN} more")
        out().print(table)
    if report.deleted:
        note(f"Deleted {len(orphans)} unreferenced blobs.")
    elif orphans:
        note(f"Dry run: would delete {len(orphans)} blobs; run `treadle gc --delete` to delete them.")
    else:
        note("Nothing to delete.")
