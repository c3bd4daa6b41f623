"""Per-column statistics of a version, computed once at create time with DuckDB (out of core).

Numeric columns: count, nulls, min, max, mean, std, quartiles and a 20-bin histogram. Strings,
booleans and dates: count, nulls, approximate distinct count, min, max and the 10 most frequent
values. File collections: count and size by extension.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
BINS = 20
TOP = 10


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_stats(parts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Statistics per column of the Parquet files ``parts`` (local paths)."""
    import duckdb

    if not parts:
        return {}
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        files = ", ".join("'" + p.replace("'", "''") + "'" for p in parts)
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet([{files}], union_by_name = true)")
        out: dict[str, dict[str, Any]] = {}
        for row in con.execute("SUMMARIZE t").fetchall():
            name, ctype, lo, hi, approx_unique, avg, std, q25, q50, q75, count, null_pct = row[:12]
            stats: dict[str, Any] = {"type": ctype, "count": int(count), "null_fraction": _number(null_pct) or 0.0}
            stats["null_fraction"] = round(stats["null_fraction"] / 100.0, 6)
            if ctype.split("(")[0] in NUMERIC:
                stats.update(
                    min=_number(lo),
                    max=_number(hi),
                    mean=_number(avg),
                    std=_number(std),
                    q25=_number(q25),
                    q50=_number(q50),
                    q75=_number(q75),
                    distinct=int(approx_unique or 0),
                )
                if ctype in ("FLOAT", "DOUBLE"):  # SUMMARIZE lets one NaN poison min/max/mean
                    stats.update(_finite(con, name))
                stats["histogram"] = _histogram(con, name, stats["min"], stats["max"])
            else:
                stats.update(
                    min=None if lo is None else str(lo)[:200],
                    max=None if hi is None else str(hi)[:200],
                    distinct=int(approx_unique or 0),
                )
                if ctype in ("VARCHAR", "BOOLEAN") or ctype.startswith("ENUM"):
                    stats["top"] = _top(con, name)
            out[name] = stats
        return out
    finally:
        con.close()


def _finite(con: Any, column: str) -> dict[str, Any]:
    col = _quote(column)
    lo, hi, avg, std, nan = con.execute(
        f"SELECT min({col}) FILTER (isfinite({col})), max({col}) FILTER (isfinite({col})), "
        f"avg({col}) FILTER (isfinite({col})), stddev_samp({col}) FILTER (isfinite({col})), "
        f"count(*) FILTER (isnan({col})) FROM t"
    ).fetchone()
    return {"min": _number(lo), "max": _number(hi), "mean": _number(avg), "std": _number(std), "nan_count": int(nan)}


def _histogram(con: Any, column: str, lo: float | None, hi: float | None) -> dict[str, list[float]] | None:
    if lo is None or hi is None:
        return None
    col = _quote(column)
    if hi == lo:
        count = con.execute(f"SELECT count({col}) FROM t").fetchone()[0]
        return {"edges": [lo, hi], "counts": [float(count)]}
    width = (hi - lo) / BINS
    rows = con.execute(
        f"SELECT least(CAST(floor(({col} - $lo) / $w) AS BIGINT), {BINS - 1}), count(*) FROM t "
        f"WHERE {col} IS NOT NULL AND isfinite(CAST({col} AS DOUBLE)) GROUP BY 1",
        {"lo": lo, "w": width},
    ).fetchall()
    counts = [0.0] * BINS
    for b, n in rows:
        counts[int(b)] = float(n)
    return {"edges": [lo + i * width for i in range(BINS + 1)], "counts": counts}


def _top(con: Any, column: str) -> list[list[Any]]:
    col = _quote(column)
    rows = con.execute(
        f"SELECT CAST({col} AS VARCHAR), count(*) FROM t WHERE {col} IS NOT NULL "
        f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {TOP}"
    ).fetchall()
    return [[str(v)[:200], int(n)] for v, n in rows]


def files_stats(files: Sequence[tuple[str, int]]) -> dict[str, dict[str, Any]]:
    """Count and sizes of a file collection, per extension (``(none)`` for files without one)."""
    by_ext: Counter[str] = Counter()
    size_by_ext: Counter[str] = Counter()
    for path, size in files:
        name = path.rpartition("/")[2]
        dot = name.rfind(".")
        ext = name[dot:].lower() if dot > 0 else "(none)"
        by_ext[ext] += 1
        size_by_ext[ext] += size
    sizes = [size for _, size in files]
    overall: dict[str, Any] = {
        "type": "files",
        "count": len(files),
        "min": min(sizes, default=0),
        "max": max(sizes, default=0),
        "mean": (sum(sizes) / len(sizes)) if sizes else 0.0,
        "top": [[ext, n] for ext, n in by_ext.most_common(TOP)],
    }
    return {"size": overall, **{f"ext:{e}": {"count": n, "bytes": size_by_ext[e]} for e, n in by_ext.items()}}
