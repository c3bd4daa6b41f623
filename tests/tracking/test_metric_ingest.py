"""Metric ingest on SQLite and PostgreSQL: the rows written for points, latest values and rollups
are what the points say, however they are batched, re-sent or chunked."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from tests.conftest import fresh_pg_database
from treadle.store import Store, _sql
from treadle.tracking import Metric, TrackingService
from treadle.tracking import _tables as t
from treadle.tracking._metrics import _CHUNK, ROLLUP_WIDTHS


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackingService]:
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 't.db'}")
        yield TrackingService(store, str(tmp_path / "blobs"))
        store.dispose()
        return
    with fresh_pg_database("treadle_ingest") as url:
        store = Store(url)
        yield TrackingService(store, str(tmp_path / "blobs"))
        store.dispose()


def _points(rng: np.random.Generator, steps: np.ndarray, key: str) -> list[Metric]:
    values = rng.normal(size=len(steps))
    values[rng.random(len(steps)) < 0.05] = math.nan
    values[rng.random(len(steps)) < 0.02] = math.inf
    values[rng.random(len(steps)) < 0.02] = -math.inf
    pairs = enumerate(zip(steps, values, strict=True))
    return [Metric(key=key, value=float(v), step=int(s), timestamp=1000 + i) for i, (s, v) in pairs]


def _expected_rollups(points: list[Metric]) -> dict[tuple[str, int, int], tuple[Any, ...]]:
    """Every rollup bucket computed from scratch, one point at a time."""
    out: dict[tuple[str, int, int], list[Any]] = {}
    for p in points:
        value = None if math.isnan(p.value) else p.value
        for level, width in enumerate(ROLLUP_WIDTHS):
            b = out.setdefault((p.key, level, p.step // width), [0, [], 0.0, (p.step, p.timestamp, value)])
            b[0] += 1
            if value is not None:
                b[1].append(value)
                b[2] += value if math.isfinite(value) else 0.0
            if (p.step, p.timestamp) >= b[3][:2]:
                b[3] = (p.step, p.timestamp, value)
    return {
        k: (n, min(vals, default=None), max(vals, default=None), round(total, 6), *last)
        for k, (n, vals, total, last) in out.items()
    }


def test_rollups_and_latest_match_the_points(tracking: TrackingService) -> None:
    rng = np.random.default_rng(7)
    exp = tracking.create_experiment("ingest")
    run = tracking.create_run(exp.id).id
    # negative and sparse steps, two keys, one batch larger than a statement's chunk
    loss = _points(rng, np.concatenate([np.arange(-40, 0), np.arange(0, _CHUNK + 700)]), "loss")
    acc = _points(rng, np.sort(rng.choice(200_000, size=600, replace=False)), "acc")
    assert tracking.log_batch(run, metrics=loss[:-300]) == len(loss) - 300
    for start in range(0, len(acc), 250):
        tracking.log_batch(run, metrics=acc[start : start + 250])
    # the tail of loss arrives with a re-sent stretch of points already stored: counted once
    assert tracking.log_batch(run, metrics=loss[-500:]) == 300

    with tracking._store.read() as conn:
        rows = conn.execute(select(t.metric_rollups).where(t.metric_rollups.c.run_id == run)).all()
        stored_points = conn.execute(select(t.metric_points.c.key).where(t.metric_points.c.run_id == run)).all()
    got = {
        (r.key, r.level, r.bucket): (
            r.count,
            r.min,
            r.max,
            round(r.sum, 6),
            r.last_step,
            r.last_timestamp,
            None if r.last_value is None or math.isnan(r.last_value) else r.last_value,
        )
        for r in rows
    }
    assert len(stored_points) == len(loss) + len(acc)
    assert got == _expected_rollups(loss + acc)

    latest = {m.key: m for m in tracking.latest_metrics([run])[run]}
    for key, series in (("loss", loss), ("acc", acc)):
        last = max(series, key=lambda p: (p.step, p.timestamp))
        assert (latest[key].step, latest[key].timestamp) == (last.step, last.timestamp)
        assert latest[key].value == last.value or (math.isnan(latest[key].value) and math.isnan(last.value))
    history = tracking.get_metric_history(run, "loss")
    assert history.steps == [p.step for p in loss]


def test_pages_larger_than_one_in_list(tracking: TrackingService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sql, "MAX_IN_LIST", 7)  # a page's reads then take three statements each
    exp = tracking.create_experiment("pages")
    for i in range(20):
        run = tracking.create_run(exp.id, name=f"r{i:02d}")
        tracking.log_batch(
            run.id,
            metrics=[Metric(key="m", value=float(i), step=i, timestamp=5)],
            params={"i": str(i)},
            tags={"t": f"x{i}"},
        )
    page = tracking.search_runs([exp.id], order_by=["name"], max_results=20, with_points=True)
    assert [r.name for r in page.runs] == [f"r{i:02d}" for i in range(20)]
    for i, r in enumerate(page.runs):
        assert (r.params, r.tags["t"], r.metrics) == ({"i": str(i)}, f"x{i}", {"m": float(i)})
        assert page.points is not None and [tuple(p) for p in page.points[r.id]] == [("m", float(i), i, 5)]
    latest = tracking.latest_metrics([r.id for r in page.runs])
    assert [points[0].value for points in latest.values()] == [float(i) for i in range(20)]
