"""Records the tracking service takes and returns."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import Field

from treadle.records import Int64, Record

if TYPE_CHECKING:
    import pandas as pd

RunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
TERMINAL = ("FINISHED", "FAILED", "KILLED")
ViewType = Literal["active", "deleted", "all"]


class Experiment(Record):
    id: str
    name: str
    description: str | None = None
    lifecycle: Literal["active", "deleted"] = "active"
    created_at: int
    updated_at: int
    tags: dict[str, str] = Field(default_factory=dict)

    def _repr_html_(self) -> str:
        return _table(["id", "name", "lifecycle", "tags"], [[self.id, self.name, self.lifecycle, self.tags]])


class LatestMetric(NamedTuple):
    """A run's latest point of one metric. A tuple, not a model: a search page carries hundreds."""

    key: str
    value: float
    step: int
    timestamp: int


class Metric(Record):
    """One point of a metric series. ``step`` and ``timestamp`` (ms) default to 0 / now."""

    key: str = Field(min_length=1, max_length=250)
    value: float
    step: Int64 = 0
    timestamp: Int64 = 0


class Run(Record):
    id: str
    experiment_id: str
    parent_id: str | None = None
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    description: str | None = None
    lifecycle: Literal["active", "deleted"] = "active"
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)  # latest value per key
    tags: dict[str, str] = Field(default_factory=dict)

    def _repr_html_(self) -> str:
        return RunPage(runs=[self]).to_html()


class RunPage(Record):
    runs: list[Run]
    next_page_token: str | None = None
    # run id -> latest point per metric key, when the search asked ``with_points``
    points: dict[str, list[LatestMetric]] | None = None

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Any:  # iterate runs, not pydantic fields
        return iter(self.runs)

    def __getitem__(self, i: int) -> Run:
        return self.runs[i]

    def to_pandas(self) -> pd.DataFrame:
        """One row per run: attributes, then ``params.*``, ``metrics.*`` and ``tags.*`` columns."""
        import pandas as pd

        rows = []
        for r in self.runs:
            row: dict[str, Any] = {
                "run_id": r.id,
                "experiment_id": r.experiment_id,
                "name": r.name,
                "status": r.status,
                "start_time": pd.to_datetime(r.start_time, unit="ms"),
                "end_time": pd.to_datetime(r.end_time, unit="ms") if r.end_time else None,
                "parent_id": r.parent_id,
            }
            row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
            row.update({f"params.{k}": v for k, v in r.params.items()})
            row.update({f"tags.{k}": v for k, v in r.tags.items() if not k.startswith("treadle.")})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_html(self) -> str:
        keys_m = sorted({k for r in self.runs for k in r.metrics})
        keys_p = sorted({k for r in self.runs for k in r.params})
        header = ["run", "name", "status", *(f"metrics.{k}" for k in keys_m), *(f"params.{k}" for k in keys_p)]
        body = [
            [
                r.id[:8],
                r.name,
                r.status,
                *(_fmt(r.metrics.get(k)) for k in keys_m),
                *(r.params.get(k, "") for k in keys_p),
            ]
            for r in self.runs
        ]
        return _table(header, body)

    def _repr_html_(self) -> str:
        return self.to_html()


class MetricSeries(Record):
    """A metric's history, column-wise. When ``downsampled``, each entry is one bucket of steps:
    ``values`` is the bucket's last value and ``mins``/``maxs`` its range."""

    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float]
    mins: list[float] | None = None
    maxs: list[float] | None = None
    downsampled: bool = False
    total_points: int


class ArtifactIn(Record):
    path: str
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class InputRef(Record):
    """Something a run consumed: a dataset version, a file, a table. ``uri`` names it."""

    uri: str = Field(min_length=1, max_length=4096)
    name: str | None = None
    digest: str | None = None
    type: str = "treadle.Dataset"
    properties: dict[str, Any] = Field(default_factory=dict)


class PurgeReport(Record):
    runs: list[str]
    blobs_deleted: int


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    return "NaN" if math.isnan(v) else f"{v:.6g}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
