"""``treadle datasets show`` and ``treadle datasets diff``: one version in full, or what changed between two."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from treadle.cli._context import state
from treadle.cli._output import fmt_number, fmt_time, key_value_grid, out
from treadle.client import Client
from treadle.datasets import DatasetDiff, DatasetVersion
from treadle.fmt import fmt_size

DatasetName = Annotated[str, typer.Argument(metavar="NAME", help="A dataset's name.")]
MAX_FILES = 20  # files of a collection listed by ``show`` (and per list by ``diff``)
MAX_SAMPLE_COLUMNS = 12
TOP_VALUES = 3


def resolve_ref(client: Client, name: str, ref: str | None) -> DatasetVersion:
    """A version by number (``3``), ``v3``, ``latest`` or an alias; the latest when ``ref`` is None."""
    if ref is None:
        return client.datasets.resolve(name)
    text = ref.strip()
    if text.isascii() and text.isdigit():
        return client.datasets.resolve(name, int(text))
    return client.datasets.resolve(name, alias=text)


def _table(title: str, headers: Sequence[str], right: Sequence[str] = ()) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    for header in headers:
        table.add_column(header, justify="right" if header in right else "left")
    return table


def _value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return fmt_number(v)
    return str(v)


def _short(v: Any) -> str:
    """A statistic in at most ~9 characters (4 significant digits)."""
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _stats_table(v: DatasetVersion) -> Table | None:
    """Per column: count, nulls, range, mean/std, distinct and the most frequent values."""
    if not v.stats:
        return None
    if v.kind == "files":
        table = _table("files by extension", ("extension", "files", "bytes"), right=("files", "bytes"))
        for key, s in sorted(v.stats.items()):
            if key.startswith("ext:") and isinstance(s, dict):
                table.add_row(key[4:], f"{s.get('count', 0):,}", fmt_size(int(s.get("bytes", 0))))
        return table
    numbers = ("count", "nulls", "min", "max", "mean", "std", "distinct")
    table = _table("statistics", ("column", *numbers, "top values"), right=numbers)
    for column in table.columns[1:-1]:
        column.no_wrap = True
    for c in v.columns:
        s = v.stats.get(c.name)
        if not isinstance(s, dict):
            continue
        top = ", ".join(f"{val} ({n})" for val, n in (s.get("top") or [])[:TOP_VALUES])
        nulls = s.get("null_fraction")
        table.add_row(
            c.name, f"{s.get('count', 0):,}", f"{nulls:.1%}" if isinstance(nulls, (int, float)) else "",
            _short(s.get("min")), _short(s.get("max")), _short(s.get("mean")), _short(s.get("std")),
            _short(s.get("distinct")), top,
        )  # fmt: skip
    return table


def _usage(client: Client, v: DatasetVersion) -> RenderableType:
    used = client.datasets.usage(v.name, v.version)
    if not (used.runs or used.models or used.features):
        return Text("used by: no runs, models or feature views recorded (td.log_input links a run)", style="dim")
    return key_value_grid(
        [
            ("used by runs", Text(", ".join(used.runs), style="cyan")),
            ("models", ", ".join(used.models)),
            ("feature views", ", ".join(used.features)),
        ]
    )


def show(
    ctx: typer.Context,
    name: DatasetName,
    ref: Annotated[
        str | None, typer.Argument(metavar="[VERSION|ALIAS]", help="A version number or alias [default: latest].")
    ] = None,
) -> None:
    """Show a version: digest, rows, files, size, schema, column statistics, aliases and usage."""
    client = state(ctx).client()
    v = resolve_ref(client, name, ref)
    ds = client.datasets.get_dataset(name)
    parts: list[RenderableType] = [
        key_value_grid(
            [
                ("dataset", Text(f"{v.name} v{v.version}", style="bold cyan")),
                ("uri", v.uri),
                ("kind", "table (Parquet parts)" if v.kind == "table" else "file collection"),
                ("rows", f"{v.num_rows:,}" if v.kind == "table" else ""),
                ("files", f"{v.num_files:,}"),
                ("size", fmt_size(v.size_bytes)),
                ("digest", v.digest),
                ("aliases", ", ".join(v.aliases)),
                ("all aliases", ", ".join(f"{a}→v{n}" for a, n in sorted(ds.aliases.items()))),
                ("latest", f"v{ds.latest_version}" if ds.latest_version != v.version else ""),
                ("source", v.source or ""),
                ("run", Text(v.run_id or "", style="cyan")),
                ("created", f"{fmt_time(v.created_at)}{' by ' + v.created_by if v.created_by else ''}"),
                ("description", v.description or ds.description or ""),
                ("tags", ", ".join(f"{k}={val}" for k, val in sorted({**ds.tags, **v.tags}.items()))),
                ("schema check", "pandera schema kept (new versions are validated)" if v.pandera_schema else ""),
            ]
        )
    ]
    schema = _table(f"schema ({len(v.columns)} columns)", ("column", "type", "nullable"))
    for c in v.columns:
        schema.add_row(c.name, c.type, "yes" if c.nullable else "no")
    parts.append(schema)
    stats = _stats_table(v)
    if stats is not None:
        parts.append(stats)
    if v.kind == "files":
        files = client.datasets.list_files(v.name, v.version)
        table = _table(f"files ({len(files):,})", ("path", "size"), right=("size",))
        for f in files[:MAX_FILES]:
            table.add_row(f.path, fmt_size(f.size))
        if len(files) > MAX_FILES:
            table.caption = f"… and {len(files) - MAX_FILES:,} more; `treadle datasets download` fetches them"
        parts.append(table)
    parts.append(_usage(client, v))
    out().print(Group(parts[0], *(Padding(p, (1, 0, 0, 0)) for p in parts[1:])))


def _rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    columns = list(dict.fromkeys(k for r in rows for k in r))[:MAX_SAMPLE_COLUMNS]
    table = _table(title, columns)
    for r in rows:
        table.add_row(*(_value(r.get(c)) for c in columns))
    return table


def _paths(title: str, paths: list[str]) -> Table:
    table = _table(f"{title} ({len(paths):,})", ("path",))
    for p in paths[:MAX_FILES]:
        table.add_row(p)
    if len(paths) > MAX_FILES:
        table.caption = f"… and {len(paths) - MAX_FILES:,} more"
    return table


def diff_parts(d: DatasetDiff) -> list[RenderableType]:
    """A diff as rich renderables: summary, schema changes, files, statistics shift and sample rows."""
    how = f"by key {', '.join(d.key)}" if d.key else ("by path" if d.kind == "files" else "rows as a multiset")
    unit = "file" if d.kind == "files" else "row"
    summary = Text(f"{d.name} v{d.before} → v{d.after}", style="bold cyan")
    summary.append(f"  ({d.kind}, {how})\n", style="dim")
    summary.append(f"{unit}s: {d.rows_before:,} → {d.rows_after:,}   ")
    summary.append(f"+{d.rows_added:,} added", style="green")
    summary.append("  ")
    summary.append(f"-{d.rows_removed:,} removed", style="red")
    if d.key or d.kind == "files":
        summary.append("  ")
        summary.append(f"~{d.rows_changed:,} changed", style="yellow")
    parts: list[RenderableType] = [summary]
    if d.columns:
        table = _table("schema changes", ("column", "change", "before", "after"))
        for c in d.columns:
            table.add_row(c.name, c.change, c.before or "", c.after or "")
        parts.append(table)
    else:
        parts.append(Text("schema: unchanged", style="dim"))
    for title, paths in (("files added", d.files_added), ("files removed", d.files_removed),
                         ("files changed", d.files_changed)):  # fmt: skip
        if paths:
            parts.append(_paths(title, paths))
    if d.stats_shift:
        table = _table("statistics shift", ("column", "statistic", "before", "after", "change"),
                       right=("before", "after", "change"))  # fmt: skip
        for s in d.stats_shift:
            change = "" if s.before is None or s.after is None else f"{s.after - s.before:+.6g}"
            table.add_row(s.column, s.statistic, _value(s.before), _value(s.after), change)
        parts.append(table)
    for title, rows in (("sample added", d.sample_added), ("sample removed", d.sample_removed),
                        ("sample changed", d.sample_changed)):  # fmt: skip
        if rows and d.kind == "table":
            parts.append(_rows_table(title, rows))
    return parts


def diff(
    ctx: typer.Context,
    name: DatasetName,
    before: Annotated[str, typer.Argument(metavar="V1", help="The older version (number or alias).")],
    after: Annotated[str, typer.Argument(metavar="V2", help="The newer version (number or alias).")],
    key: Annotated[
        list[str] | None,
        typer.Option("--key", "-k", help="Key column (repeatable): rows with the same key are compared."),
    ] = None,
) -> None:
    """Compare two versions: schema, rows added/removed/changed (by --key), files and statistics shift."""
    client = state(ctx).client()
    old, new = resolve_ref(client, name, before), resolve_ref(client, name, after)
    result = client.datasets.diff(name, old.version, new.version, key=key or [])
    parts = diff_parts(result)
    out().print(Group(parts[0], *(Padding(p, (1, 0, 0, 0)) for p in parts[1:])))
