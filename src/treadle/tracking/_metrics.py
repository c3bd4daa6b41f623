"""Metric ingest (points, latest values, rollups in one transaction) and history reads."""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, case, func, or_, select

from treadle.store import driver_rows, insert_for, per_dialect, placeholders, rows_for_ids
from treadle.tracking import _tables as t
from treadle.tracking._records import LatestMetric, Metric, MetricSeries

# Bucket width of each rollup level; level i groups steps by ``step // ROLLUP_WIDTHS[i]``.
ROLLUP_WIDTHS = (16, 256, 4096, 65536)
assert all(coarse % fine == 0 for fine, coarse in itertools.pairwise(ROLLUP_WIDTHS))  # buckets nest
_P = t.metric_points
_R = t.metric_rollups


def insert_points(conn: Connection, run_id: str, points: Sequence[Metric]) -> int:
    """Insert points; re-sent ones are ignored. Latest values and rollups count each point once."""
    if not points:
        return 0
    inserted: list[tuple[Any, ...]] = []
    for start in range(0, len(points), _CHUNK):
        chunk = points[start : start + _CHUNK]
        values: list[Any] = []
        for p in chunk:
            nan = math.isnan(p.value)
            values += (run_id, p.key, p.step, p.timestamp, 0.0 if nan else p.value, nan)
        inserted += driver_rows(conn, _insert_sql(conn.dialect.paramstyle, len(chunk)), values)
    if inserted:
        _update_latest(conn, run_id, inserted)
        _update_rollups(conn, run_id, inserted)
    return len(inserted)


_CHUNK = 4000  # rows a statement, 6 parameters each: under SQLite's 32,766 and PostgreSQL's 65,535


@functools.lru_cache(maxsize=64)
def _insert_sql(paramstyle: str, rows: int) -> str:
    """One multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` for ``rows`` points, as driver SQL.

    The ingest hot path: SQLAlchemy's insertmanyvalues spends ~2 ms of Python per 1,000 rows on
    per-row parameter processing that plain tuples do not need (the values are already checked).
    Returns the rows actually inserted, so a re-sent point is not counted twice.
    """
    row = f"({placeholders(paramstyle, 6)})"
    return (
        f'INSERT INTO {_P.name} (run_id, "key", step, timestamp, value, is_nan) VALUES '
        + ",".join([row] * rows)
        + ' ON CONFLICT DO NOTHING RETURNING "key", step, timestamp, value, is_nan'
    )


@per_dialect
def _upsert_latest(dialect: str) -> Any:
    stmt = insert_for(dialect, t.latest_metrics)
    ex, lm = stmt.excluded, t.latest_metrics.c
    newer = or_(ex.step > lm.step, (ex.step == lm.step) & (ex.timestamp >= lm.timestamp))
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={"step": ex.step, "timestamp": ex.timestamp, "value": ex.value, "is_nan": ex.is_nan},
        where=newer,
    )


def _update_latest(conn: Connection, run_id: str, inserted: Sequence[Any]) -> None:
    best: dict[str, tuple[Any, ...]] = {}
    for row in inserted:
        cur = best.get(row[0])
        if cur is None or row[1:3] >= cur[1:3]:
            best[row[0]] = row
    conn.execute(
        _upsert_latest(conn),
        [
            {"run_id": run_id, "key": key, "step": step, "timestamp": ts, "value": value, "is_nan": is_nan}
            for key, step, ts, value, is_nan in best.values()
        ],
    )


def _merge_min(old: Any, new: Any, pick_new: Any) -> Any:
    return case((old.is_(None), new), (new.is_(None), old), (pick_new, new), else_=old)


@per_dialect
def _upsert_rollups(dialect: str) -> Any:
    stmt = insert_for(dialect, _R)
    ex, c = stmt.excluded, _R.c
    newer = or_(ex.last_step > c.last_step, (ex.last_step == c.last_step) & (ex.last_timestamp >= c.last_timestamp))
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "key", "level", "bucket"],
        set_={
            "count": c.count + ex.count,
            "sum": c.sum + ex.sum,
            "min": _merge_min(c.min, ex.min, ex.min < c.min),
            "max": _merge_min(c.max, ex.max, ex.max > c.max),
            "last_step": case((newer, ex.last_step), else_=c.last_step),
            "last_timestamp": case((newer, ex.last_timestamp), else_=c.last_timestamp),
            "last_value": case((newer, ex.last_value), else_=c.last_value),
        },
    )


def _update_rollups(conn: Connection, run_id: str, inserted: Sequence[Any]) -> None:
    # The finest level is aggregated from the points, each coarser one from the level below it
    # (its buckets nest), so a point is visited once, not once per level.
    level = _finest_buckets(inserted)
    rows: list[dict[str, Any]] = []
    for number, width in enumerate(ROLLUP_WIDTHS):
        if number:
            level = _coarser(level, width // ROLLUP_WIDTHS[number - 1])
        rows += [
            {
                "run_id": run_id,
                "key": key,
                "level": number,
                "bucket": bucket,
                "count": count,
                "min": low,
                "max": high,
                "sum": total,
                "last_step": step,
                "last_timestamp": ts,
                "last_value": value,
            }
            for (key, bucket), (count, low, high, total, step, ts, value) in level.items()
        ]
    conn.execute(_upsert_rollups(conn), rows)


# A bucket's aggregate: [count, min, max, sum of finite values, last step, last timestamp, last value];
# min and max skip NaN (None), the sum also skips infinities (+inf and -inf together would sum to NaN).
_Bucket = list[Any]


def _finest_buckets(inserted: Sequence[Any]) -> dict[tuple[str, int], _Bucket]:
    width = ROLLUP_WIDTHS[0]
    buckets: dict[tuple[str, int], _Bucket] = {}
    for key, step, ts, raw, is_nan in inserted:
        value = None if is_nan else raw
        finite = 0.0 if value is None or not math.isfinite(value) else value
        a = buckets.get((key, step // width))
        if a is None:
            buckets[(key, step // width)] = [1, value, value, finite, step, ts, value]
            continue
        a[0] += 1
        if value is not None:
            if a[1] is None or value < a[1]:
                a[1] = value
            if a[2] is None or value > a[2]:
                a[2] = value
            a[3] += finite
        if (step, ts) >= (a[4], a[5]):
            a[4], a[5], a[6] = step, ts, value
    return buckets


def _coarser(finer: dict[tuple[str, int], _Bucket], factor: int) -> dict[tuple[str, int], _Bucket]:
    buckets: dict[tuple[str, int], _Bucket] = {}
    for (key, bucket), b in finer.items():
        a = buckets.get((key, bucket // factor))
        if a is None:
            buckets[(key, bucket // factor)] = list(b)
            continue
        a[0] += b[0]
        if b[1] is not None and (a[1] is None or b[1] < a[1]):
            a[1] = b[1]
        if b[2] is not None and (a[2] is None or b[2] > a[2]):
            a[2] = b[2]
        a[3] += b[3]
        if (b[4], b[5]) >= (a[4], a[5]):
            a[4], a[5], a[6] = b[4], b[5], b[6]
    return buckets


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def _bucket_sum(
    conn: Connection, run_id: str, key: str, level: int, lo: int | None, hi: int | None
) -> tuple[int, int | None, int | None]:
    """Points in the buckets of ``level`` overlapping [lo, hi] (exact when unbounded), and the step range."""
    width = ROLLUP_WIDTHS[level]
    q = select(func.coalesce(func.sum(_R.c.count), 0), func.min(_R.c.bucket), func.max(_R.c.last_step)).where(
        _R.c.run_id == run_id, _R.c.key == key, _R.c.level == level
    )
    if lo is not None:
        q = q.where(_R.c.bucket >= lo // width)
    if hi is not None:
        q = q.where(_R.c.bucket <= hi // width)
    total, first_bucket, last_step = conn.execute(q).one()
    return int(total), (None if first_bucket is None else first_bucket * width), last_step


def read_history(
    conn: Connection, run_id: str, key: str, max_points: int | None, start_step: int | None, end_step: int | None
) -> MetricSeries:
    coarse = len(ROLLUP_WIDTHS) - 1
    total, first, last = _bucket_sum(conn, run_id, key, coarse, None, None)
    if max_points is None or total <= max_points or first is None or last is None:
        return _raw(conn, run_id, key, start_step, end_step, total)
    lo = first if start_step is None else max(start_step, first)
    hi = last if end_step is None else min(end_step, last)
    if lo > hi:
        return _raw(conn, run_id, key, start_step, end_step, total)
    # The finest level with at most ~4 buckets per wanted point; then merge buckets down.
    level = next((i for i, w in enumerate(ROLLUP_WIDTHS) if (hi - lo) // w + 1 <= 4 * max_points), coarse)
    if start_step is not None or end_step is not None:
        in_range, _, _ = _bucket_sum(conn, run_id, key, level, lo, hi)  # overcounts at most two edge buckets
        if in_range <= max_points:
            return _raw(conn, run_id, key, start_step, end_step, total)
    width = ROLLUP_WIDTHS[level]
    if level == 0 and (hi - lo) // width + 1 < max_points // 2:
        # Even the finest rollup is too coarse here: at most 16 x max_points raw points, bucket them.
        raw = _raw(conn, run_id, key, lo, hi, total)
        return _downsample_points(raw, max_points)
    # Whole buckets come from the rollups; a bucket cut by start_step/end_step is read raw, so no
    # value from outside the asked range shows up in a min, max or last value.
    first_whole = lo // width if start_step is None else -(-lo // width)
    last_whole = hi // width if end_step is None else (hi + 1) // width - 1
    if first_whole > last_whole:
        return _downsample_points(_raw(conn, run_id, key, lo, hi, total), max_points)
    rows = conn.execute(
        select(_R.c.last_step, _R.c.last_timestamp, _R.c.last_value, _R.c.min, _R.c.max)
        .where(
            _R.c.run_id == run_id,
            _R.c.key == key,
            _R.c.level == level,
            _R.c.bucket >= first_whole,
            _R.c.bucket <= last_whole,
        )
        .order_by(_R.c.bucket)
    ).all()
    head = _raw(conn, run_id, key, lo, first_whole * width - 1, total) if lo < first_whole * width else None
    tail = _raw(conn, run_id, key, (last_whole + 1) * width, hi, total) if end_step is not None else None
    buckets = _point_buckets(head) + [(r[0], r[1], _nan(r[2]), r[3], r[4]) for r in rows] + _point_buckets(tail)
    return _merge_buckets(key, buckets, max_points, total)


Bucket = tuple[int, int, float, float | None, float | None]  # last step, last timestamp, last value, min, max


def _merge_buckets(
    key: str, buckets: Sequence[Bucket], max_points: int, total: int, rollups: bool = True
) -> MetricSeries:
    """Merge consecutive buckets into at most ``max_points``: the last value, min and max of each."""
    group = max(1, math.ceil(len(buckets) / max_points))
    steps, stamps, values, mins, maxs = [], [], [], [], []
    for i in range(0, len(buckets), group):
        chunk = buckets[i : i + group]
        lows = [b[3] for b in chunk if b[3] is not None]
        highs = [b[4] for b in chunk if b[4] is not None]
        step, stamp, value, _, _ = chunk[-1]
        steps.append(step)
        stamps.append(stamp)
        values.append(value)
        mins.append(min(lows) if lows else math.nan)
        maxs.append(max(highs) if highs else math.nan)
    return MetricSeries(
        key=key,
        steps=steps,
        timestamps=stamps,
        values=values,
        mins=mins,
        maxs=maxs,
        downsampled=rollups or group > 1,
        total_points=total,
    )


def _point_buckets(series: MetricSeries | None) -> list[Bucket]:
    """Raw points as one-point buckets (a NaN has no range)."""
    if series is None:
        return []
    return [
        (step, ts, v, None if math.isnan(v) else v, None if math.isnan(v) else v)
        for step, ts, v in zip(series.steps, series.timestamps, series.values, strict=True)
    ]


def _downsample_points(series: MetricSeries, max_points: int) -> MetricSeries:
    """Raw points merged down to at most ``max_points`` buckets."""
    return _merge_buckets(series.key, _point_buckets(series), max_points, series.total_points, rollups=False)


def _raw(conn: Connection, run_id: str, key: str, start: int | None, end: int | None, total: int) -> MetricSeries:
    q = select(_P.c.step, _P.c.timestamp, _P.c.value, _P.c.is_nan).where(_P.c.run_id == run_id, _P.c.key == key)
    if start is not None:
        q = q.where(_P.c.step >= start)
    if end is not None:
        q = q.where(_P.c.step <= end)
    rows = conn.execute(q.order_by(_P.c.step, _P.c.timestamp)).all()
    return MetricSeries(
        key=key,
        steps=[r[0] for r in rows],
        timestamps=[r[1] for r in rows],
        values=[math.nan if r[3] else r[2] for r in rows],
        total_points=len(rows) if (start is not None or end is not None) else max(total, len(rows)),
    )


def latest_by_run(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[LatestMetric]]:
    """Each run's latest point per metric key; runs without metrics are absent."""
    out: dict[str, list[LatestMetric]] = defaultdict(list)
    # driver rows: a search page reads hundreds of these (see store.driver_rows)
    rows = rows_for_ids(conn, _SELECT_LATEST, "run_id", run_ids)
    for run_id, key, value, is_nan, step, timestamp in rows:
        out[run_id].append(LatestMetric(key, math.nan if is_nan else value, step, timestamp))
    return out


_SELECT_LATEST = f'SELECT run_id, "key", value, is_nan, step, timestamp FROM {t.latest_metrics.name}'
