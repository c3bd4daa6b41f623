"""What the evaluation pages read: evaluation runs (tracked runs tagged by ``td.evaluate``), their
metrics split into overall / per slice / baseline, and their JSON and SVG artifacts.

An evaluation run carries the tags ``treadle.evaluation=true``, ``treadle.evaluation.model``,
``treadle.evaluation.version`` and ``treadle.evaluation.blessed``; metrics ``<metric>``,
``slice/<column>:<value>/<metric>`` and ``baseline/<metric>``; artifacts under ``evaluation/``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from treadle.errors import NotFound
from treadle.evaluation import HIGHER_IS_BETTER, higher_is_better
from treadle.tracking import Run, run_manifest
from treadle.ui._preview import read_head
from treadle.ui._svg_safe import MAX_SVG_BYTES, safe_svg

if TYPE_CHECKING:
    from markupsafe import Markup

    from treadle.client._backend import Backend

EVAL_TAG = "treadle.evaluation"
MODEL_TAG = "treadle.evaluation.model"
VERSION_TAG = "treadle.evaluation.version"
BLESSED_TAG = "treadle.evaluation.blessed"
DATASET_TAG = "treadle.evaluation.dataset"  # datasets:/name/N when the data was a dataset version
BASELINE_TAG = "treadle.evaluation.baseline"
REPORT, BLESSING, EXPLANATIONS, PLOTS = (
    "evaluation/report.json",
    "evaluation/blessing.json",
    "evaluation/explanations.json",
    "evaluation/plots/",
)
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_RUNS = 500
# Shown first, in this order, when a run has them.
PREFERRED = ("accuracy", "f1", "roc_auc", "precision", "recall", "log_loss", "rmse", "mae", "r2", "ndcg", "map", "mrr")


def lower_is_better(metric: str) -> bool:
    """Errors and losses: smaller is better (``treadle.evaluation``'s table, then the name's ending)."""
    name = metric.rsplit("/", 1)[-1]
    base = name.split("@", 1)[0]
    if base in HIGHER_IS_BETTER:
        return not higher_is_better(name)
    return base.endswith(("_error", "_loss", "loss"))


def order_metrics(names: set[str] | list[str]) -> list[str]:
    """Well-known metrics first (accuracy, f1, ...), then the rest alphabetically."""
    rank = {m: i for i, m in enumerate(PREFERRED)}
    return sorted(set(names), key=lambda m: (rank.get(m.split("@")[0], len(rank)), m))


@dataclass
class Evaluation:
    """One evaluation run, its metrics split by kind."""

    run: Run
    model: str
    version: str
    blessed: bool | None
    dataset: str | None = None
    baseline_model: str | None = None
    overall: dict[str, float] = field(default_factory=dict)
    slices: dict[str, dict[str, float]] = field(default_factory=dict)  # "col=value" -> metric -> value
    baseline: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version}" if self.model and self.version else (self.model or self.run.name)

    @property
    def dataset_version(self) -> tuple[str, int] | None:
        """(name, version) when the data was a dataset version (``datasets:/name/N``)."""
        name, _, number = (self.dataset or "").removeprefix("datasets:/").rpartition("/")
        if not (self.dataset or "").startswith("datasets:/") or not name or not number.isdigit():
            return None
        return name, int(number)


def split_metrics(metrics: dict[str, float]) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, float]]:
    """(overall, per slice, baseline) from a run's flat metric keys."""
    overall: dict[str, float] = {}
    slices: dict[str, dict[str, float]] = {}
    baseline: dict[str, float] = {}
    for key, value in metrics.items():
        if key.startswith("slice/"):
            label, _, metric = key.removeprefix("slice/").rpartition("/")
            if label and metric:
                slices.setdefault(label, {})[metric] = value
        elif key.startswith("baseline/"):
            baseline[key.removeprefix("baseline/")] = value
        elif "/" not in key:
            overall[key] = value
    return overall, dict(sorted(slices.items())), baseline


def as_evaluation(run: Run) -> Evaluation:
    overall, slices, baseline = split_metrics(run.metrics)
    blessed = run.tags.get(BLESSED_TAG)
    return Evaluation(
        run=run,
        model=run.tags.get(MODEL_TAG, ""),
        version=run.tags.get(VERSION_TAG, ""),
        blessed=None if blessed is None else blessed.lower() == "true",
        dataset=run.tags.get(DATASET_TAG),
        baseline_model=run.tags.get(BASELINE_TAG),
        overall=overall,
        slices=slices,
        baseline=baseline,
    )


def quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def evaluation_runs(backend: Backend, model: str | None = None, limit: int = MAX_RUNS) -> list[Evaluation]:
    """Evaluation runs, newest first (of ``model`` when given)."""
    where = f"tags.`{EVAL_TAG}` = 'true'"
    if model:
        where += f" and tags.`{MODEL_TAG}` = {quoted(model)}"
    page = backend.tracking.search_runs(filter=where, order_by=["attributes.start_time DESC"], max_results=limit)
    return [as_evaluation(r) for r in page.runs]


def get_evaluation(backend: Backend, run_id: str) -> Evaluation:
    """The evaluation run ``run_id``; NotFound when there is no such run or it is not an evaluation."""
    run = backend.tracking.get_run(run_id)
    if run.tags.get(EVAL_TAG, "").lower() != "true":
        raise NotFound(f"run {run_id!r} is not an evaluation (td.evaluate tags its runs {EVAL_TAG}=true)")
    return as_evaluation(run)


def read_artifact(backend: Backend, run_id: str, path: str, limit: int) -> bytes | None:
    """The artifact's bytes (None when the run has no such file or it is larger than ``limit``)."""
    try:
        entry = backend.artifacts.stat(run_manifest(run_id), path)
    except NotFound:
        return None
    if entry.size > limit:
        return None
    return read_head(backend.blobs, entry.digest, limit)


def read_json(backend: Backend, run_id: str, path: str) -> Any:
    """A JSON artifact parsed (NaN allowed, as Python writes it); None when missing or unreadable."""
    data = read_artifact(backend, run_id, path, MAX_JSON_BYTES)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def plots(backend: Backend, run_id: str) -> list[tuple[str, Markup | None]]:
    """(name, sanitised inline SVG or None when it could not be shown) per ``evaluation/plots/*.svg``."""
    found = []
    for f in backend.artifacts.list_files(run_manifest(run_id), PLOTS):
        if not f.path.endswith(".svg"):
            continue
        data = read_artifact(backend, run_id, f.path, MAX_SVG_BYTES)
        name = f.path.removeprefix(PLOTS).removesuffix(".svg")
        found.append((name, safe_svg(data) if data is not None else None))
    return found


def best_index(values: list[float | None], metric: str) -> set[int]:
    """Positions holding the best finite value of ``metric`` (ties: all of them); empty below two values."""
    finite = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return set()
    pick = min if lower_is_better(metric) else max
    best = pick(v for _, v in finite)
    return {i for i, v in finite if v == best}
