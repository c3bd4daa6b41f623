"""Experiment tracking: experiments, runs, params, metric series, tags, artifacts, search."""

from treadle.tracking._records import (
    ArtifactIn,
    Experiment,
    InputRef,
    LatestMetric,
    Metric,
    MetricSeries,
    PurgeReport,
    Run,
    RunPage,
    RunStatus,
)
from treadle.tracking._service import TrackingService, run_manifest

__all__ = [
    "ArtifactIn",
    "Experiment",
    "InputRef",
    "LatestMetric",
    "Metric",
    "MetricSeries",
    "PurgeReport",
    "Run",
    "RunPage",
    "RunStatus",
    "TrackingService",
    "run_manifest",
]
