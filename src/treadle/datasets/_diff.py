"""Diffing two versions: schema, rows by key (or as a multiset), files, and the shift in statistics."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treadle.datasets._read import is_part, json_safe
from treadle.datasets._records import ColumnChange, DatasetDiff, DatasetVersion, StatShift
from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    from treadle.datasets._service import DatasetService

SAMPLE = 5
SHIFT_STATS = ("mean", "std", "min", "max", "null_fraction")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def diff_versions(service: DatasetService, name: str, before: int, after: int, key: list[str]) -> DatasetDiff:
    old, new = service.resolve(name, before), service.resolve(name, after)
    old_files = {f.path: f.digest for f in service.list_files(name, before)}
    new_files = {f.path: f.digest for f in service.list_files(name, after)}
    result: dict[str, Any] = dict(
        name=name,
        before=before,
        after=after,
        kind=new.kind,
        key=key,
        rows_before=old.num_rows,
        rows_after=new.num_rows,
        columns=_columns(old, new),
        stats_shift=_shift(old, new),
    )
    if old.kind == "files" or new.kind == "files":
        if key:
            raise InvalidArgument("a key diffs tables; file collections are compared by path")
        result.update(
            files_added=sorted(p for p in new_files if p not in old_files),
            files_removed=sorted(p for p in old_files if p not in new_files),
            files_changed=sorted(p for p in new_files if p in old_files and old_files[p] != new_files[p]),
        )
        result["rows_added"], result["rows_removed"] = len(result["files_added"]), len(result["files_removed"])
        result["rows_changed"] = len(result["files_changed"])
        return DatasetDiff(**result)
    result.update(_rows(service, old, new, old_files, new_files, key))
    return DatasetDiff(**result)


def _columns(old: DatasetVersion, new: DatasetVersion) -> list[ColumnChange]:
    before = {c.name: c.type for c in old.columns}
    after = {c.name: c.type for c in new.columns}
    changes = [ColumnChange(name=n, change="added", after=t) for n, t in after.items() if n not in before]
    changes += [ColumnChange(name=n, change="removed", before=t) for n, t in before.items() if n not in after]
    changes += [
        ColumnChange(name=n, change="type_changed", before=before[n], after=t)
        for n, t in after.items()
        if n in before and before[n] != t
    ]
    return changes


def _shift(old: DatasetVersion, new: DatasetVersion) -> list[StatShift]:
    shifts = []
    for column, after in new.stats.items():
        before = old.stats.get(column)
        if not isinstance(before, dict) or not isinstance(after, dict):
            continue
        for stat in SHIFT_STATS:
            a, b = before.get(stat), after.get(stat)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a != b:
                shifts.append(StatShift(column=column, statistic=stat, before=float(a), after=float(b)))
    return shifts


def _rows(
    service: DatasetService,
    old: DatasetVersion,
    new: DatasetVersion,
    old_files: dict[str, str],
    new_files: dict[str, str],
    key: list[str],
) -> dict[str, Any]:
    import duckdb

    common = [c.name for c in new.columns if c.name in {o.name for o in old.columns}]
    missing = [k for k in key if k not in common]
    if missing:
        raise InvalidArgument(f"key column(s) {missing} are not in both versions (common columns: {common})")
    tmp = Path(tempfile.mkdtemp(prefix="treadle-diff-"))
    con = duckdb.connect()
    try:
        for label, files in (("a", old_files), ("b", new_files)):
            paths = []
            for path, digest in sorted(files.items()):
                if is_part(path):
                    target = tmp / label / path
                    service.blobs.download(digest, target)
                    paths.append(str(target))
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            cols = ", ".join(_q(c) for c in common) or "NULL AS _none"
            con.execute(f"CREATE VIEW {label} AS SELECT {cols} FROM read_parquet([{listed}], union_by_name = true)")
        if not key:
            return _multiset(con)
        return _keyed(con, key, [c for c in common if c not in key])
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _fetch(con: Any, sql: str) -> list[dict[str, Any]]:
    rel = con.execute(sql)
    names = [d[0] for d in rel.description]
    return [json_safe(dict(zip(names, row, strict=True))) for row in rel.fetchall()]


def _multiset(con: Any) -> dict[str, Any]:
    added = con.execute("SELECT count(*) FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a)").fetchone()[0]
    removed = con.execute("SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b)").fetchone()[0]
    return dict(
        rows_added=int(added),
        rows_removed=int(removed),
        sample_added=_fetch(con, f"SELECT * FROM b EXCEPT ALL SELECT * FROM a LIMIT {SAMPLE}"),
        sample_removed=_fetch(con, f"SELECT * FROM a EXCEPT ALL SELECT * FROM b LIMIT {SAMPLE}"),
    )


def _keyed(con: Any, key: list[str], values: list[str]) -> dict[str, Any]:
    keys = ", ".join(_q(k) for k in key)
    for label, version in (("a", "before"), ("b", "after")):
        dupes = con.execute(
            f"SELECT count(*) FROM (SELECT {keys} FROM {label} GROUP BY {keys} HAVING count(*) > 1)"
        ).fetchone()[0]
        if dupes:
            raise InvalidArgument(f"key {key} is not unique in the {version} version: {dupes} key(s) repeat")
    join = " AND ".join(f"a.{_q(k)} IS NOT DISTINCT FROM b.{_q(k)}" for k in key)
    differs = " OR ".join(f"a.{_q(c)} IS DISTINCT FROM b.{_q(c)}" for c in values) or "FALSE"
    added_sql = f"SELECT b.* FROM b ANTI JOIN a ON {join}"
    removed_sql = f"SELECT a.* FROM a ANTI JOIN b ON {join}"
    changed_cols = ", ".join(
        [f"b.{_q(k)}" for k in key]
        + [f"a.{_q(c)} AS {_q(c + '_before')}, b.{_q(c)} AS {_q(c + '_after')}" for c in values]
    )
    changed_sql = f"SELECT {changed_cols} FROM a JOIN b ON {join} WHERE {differs}"
    count = lambda sql: int(con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0])  # noqa: E731
    return dict(
        rows_added=count(added_sql),
        rows_removed=count(removed_sql),
        rows_changed=count(changed_sql),
        sample_added=_fetch(con, f"{added_sql} LIMIT {SAMPLE}"),
        sample_removed=_fetch(con, f"{removed_sql} LIMIT {SAMPLE}"),
        sample_changed=_fetch(con, f"{changed_sql} LIMIT {SAMPLE}"),
    )
