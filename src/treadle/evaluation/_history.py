"""A model's evaluation history (across its versions and continuous-training pipeline runs) and a
side-by-side comparison of 2-5 evaluation runs (the UI's compare page)."""

from __future__ import annotations

import json
from typing import Any

from treadle.client import Client
from treadle.client import _fluent as fluent
from treadle.errors import InvalidArgument, NotFound
from treadle.tracking import Run

_PAGE = 1000


def _evaluation_runs(client: Client, filter: str) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.tracking.search_runs(None, filter, ["attributes.start_time ASC"], _PAGE, token)
        runs.extend(page.runs)
        token = page.next_page_token
        if not token:
            return runs


def _metrics(run: Run) -> dict[str, float]:
    """Overall metrics only (not ``slice/...`` or ``baseline/...``)."""
    return {k: v for k, v in run.metrics.items() if "/" not in k}


def _row(run: Run) -> dict[str, Any]:
    tags = run.tags
    version = tags.get("treadle.evaluation.version")
    return {
        "run_id": run.id,
        "name": run.name,
        "model": tags.get("treadle.evaluation.model"),
        "version": int(version) if version and version.isdigit() else None,
        "pipeline_run": tags.get("treadle.pipeline_run"),
        "time": run.start_time,
        "status": run.status,
        "metrics": _metrics(run),
        "blessed": tags.get("treadle.evaluation.blessed") == "true",
        "baseline": tags.get("treadle.evaluation.baseline"),
        "dataset": tags.get("treadle.evaluation.dataset"),
    }


def history(model_name: str, metric: str | None = None, client: Client | None = None) -> list[dict[str, Any]]:
    """Every evaluation run of ``model_name`` (tag ``treadle.evaluation.model``), oldest first: version,
    run_id, pipeline run id, time, metrics (only ``metric`` when given), blessed."""
    if not model_name or "'" in model_name:
        raise InvalidArgument(f"bad model name {model_name!r}")
    client = client or fluent.get_client()
    runs = _evaluation_runs(
        client, f"tags.`treadle.evaluation` = 'true' and tags.`treadle.evaluation.model` = '{model_name}'"
    )
    out = []
    for run in runs:
        row = _row(run)
        if metric is not None:
            if metric not in row["metrics"]:
                continue
            row["metrics"] = {metric: row["metrics"][metric]}
        out.append(row)
    return out


def compare(run_ids: list[str], client: Client | None = None) -> dict[str, Any]:
    """2-5 evaluation runs side by side: ``{"runs": [row...], "metrics": {metric: [value per run]},
    "best": {metric: run_id}}`` (best by the metric's direction)."""
    from treadle.evaluation._metrics import higher_is_better

    if not 2 <= len(run_ids) <= 5:
        raise InvalidArgument(f"compare takes 2 to 5 evaluation runs, not {len(run_ids)}")
    client = client or fluent.get_client()
    rows = []
    for run_id in run_ids:
        run = client.tracking.get_run(run_id)
        if run.tags.get("treadle.evaluation") != "true":
            raise InvalidArgument(f"run {run_id} is not an evaluation run (made by td.evaluate)")
        row = _row(run)
        row["slices"] = _slices(client, run_id)
        rows.append(row)
    names = sorted({m for r in rows for m in r["metrics"]})
    table = {m: [r["metrics"].get(m) for r in rows] for m in names}
    best: dict[str, str] = {}
    for m, values in table.items():
        present = [(v, r["run_id"]) for v, r in zip(values, rows, strict=True) if v is not None]
        if present:
            pick = max(present) if higher_is_better(m) else min(present)
            best[m] = pick[1]
    return {"runs": rows, "metrics": table, "best": best}


def _slices(client: Client, run_id: str) -> dict[str, Any]:
    """Per-slice metrics from the run's report (empty when it has none)."""
    try:
        report = json.loads(client.read_artifact(run_id, "evaluation/report.json"))
    except NotFound:
        return {}
    return {label: s.get("metrics", {}) for label, s in (report.get("slices") or {}).items()}
