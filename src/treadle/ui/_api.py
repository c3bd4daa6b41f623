"""JSON for the charts: a metric's history, downsampled server-side, NaN and infinities as null."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Query, Response

from treadle.errors import InvalidArgument
from treadle.tracking import MetricSeries

if TYPE_CHECKING:
    from treadle.client._backend import Backend

DEFAULT_POINTS = 1000
MAX_POINTS = 20_000


def finite(values: Sequence[float] | None) -> list[float | None] | None:
    """Browsers' JSON.parse cannot read NaN or Infinity: they become null (a gap in the chart)."""
    if values is None:
        return None
    return [v if math.isfinite(v) else None for v in values]


def _step(name: str, raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        step = int(float(raw))
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{name} must be an integer step, got {raw!r}") from None
    if abs(step) >= 2**63:
        raise InvalidArgument(f"{name} must fit in 64 bits, got {raw!r}")
    return step


def _thin(series: MetricSeries, max_points: int) -> MetricSeries:
    """Keep every n-th point (and the last) of a raw series longer than ``max_points``."""
    n = len(series.steps)
    if n <= max_points:
        return series
    idx = list(range(0, n, math.ceil(n / max_points)))
    idx[-1] = n - 1
    return series.model_copy(
        update={
            "steps": [series.steps[i] for i in idx],
            "timestamps": [series.timestamps[i] for i in idx],
            "values": [series.values[i] for i in idx],
            "downsampled": True,
        }
    )


def series_payload(series: MetricSeries, run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "key": series.key,
        "steps": series.steps,
        "timestamps": series.timestamps,
        "values": finite(series.values),
        "mins": finite(series.mins),
        "maxs": finite(series.maxs),
        "downsampled": series.downsampled,
        "total_points": series.total_points,
    }


def api_router(backend: Backend) -> APIRouter:
    router = APIRouter()
    tracking = backend.tracking

    @router.get("/ui/api/runs/{run_id}/metrics/{key:path}")
    def metric_series(
        run_id: str,
        key: str,
        max_points: int = Query(DEFAULT_POINTS, ge=1, le=MAX_POINTS),
        start_step: str | None = None,
        end_step: str | None = None,
    ) -> Response:
        """``steps``, ``timestamps`` (ms), ``values`` and, when downsampled, ``mins``/``maxs`` per bucket."""
        start, end = _step("start_step", start_step), _step("end_step", end_step)
        series = tracking.get_metric_history(run_id, key, max_points=max_points, start_step=start, end_step=end)
        if series.downsampled and start is not None and end is not None and end - start < max_points:
            # A narrow zoom that the rollups' edge buckets made look bigger than max_points: read
            # the range's raw points (about one per step) rather than 16-step buckets.
            series = _thin(tracking.get_metric_history(run_id, key, start_step=start, end_step=end), max_points)
        return Response(orjson.dumps(series_payload(series, run_id)), media_type="application/json")

    return router
