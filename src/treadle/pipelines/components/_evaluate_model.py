"""``evaluate_model``: :func:`treadle.evaluation.evaluate` as a pipeline step, gated against the champion.

Unlike the lighter ``evaluate`` component it records a full evaluation run (slices, plots, the
blessing; nested under the step's run) and takes TFMA-style ``thresholds``. Its report has the keys
``register`` and ``deploy`` read (``passed``, ``reason``, ``metric``, ``candidate``, ...) plus the
evaluation's ``run_id``, which ``register`` turns into the new version's blessing tags and
``deploy(require_blessing=True)`` checks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from treadle.errors import InvalidArgument
from treadle.evaluation import Threshold, evaluate, higher_is_better
from treadle.pipelines import step
from treadle.pipelines.components._estimators import is_classifier
from treadle.pipelines.components._evaluate import GateFailed
from treadle.pipelines.components._util import set_tags


@step(reads_mutable=True)  # the champion it gates against moves: never reuse an old verdict
def evaluate_model(
    model: Any,
    test: pd.DataFrame,
    target: str,
    model_name: str | None = None,
    task: str | None = None,
    metric: str | None = None,
    thresholds: dict[str, Any] | None = None,
    min_delta: float | None = 0.0,
    slices: list[Any] | None = None,
    baseline_alias: str = "champion",
    explain: bool | str = False,
    require_pass: bool = False,
    features: list[str] | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (a fitted estimator or a model URI) on ``test`` against
    ``models:/<model_name>@<baseline_alias>`` with ``thresholds`` (default: ``metric`` must not drop
    by more than ``-min_delta``, i.e. ``{metric: {"min_change": min_delta}}``).

    Returns ``{"passed", "reason", "metric", "candidate", "champion", "champion_version",
    "model_name", "metrics", "champion_metrics", "higher_is_better", "run_id", "checks", "slices"}``."""
    if task is None:
        if isinstance(model, str):
            raise InvalidArgument("evaluate_model: give task= (classification or regression) for a model URI")
        task = "classification" if is_classifier(model) else "regression"
    name = metric or ("accuracy" if task == "classification" else "rmse")
    if thresholds is None:
        thresholds = {name: {"min_change": min_delta}} if min_delta is not None else {}
    data = test
    if features:  # the model's inputs, the label and what the slices group by
        by = [
            c
            for spec in slices or []
            if not isinstance(spec, dict)
            for c in ([spec] if isinstance(spec, str) else spec)
        ]
        data = test[list(dict.fromkeys([*features, target, *by]))]
    baseline = f"models:/{model_name}@{baseline_alias}" if model_name else None
    result = evaluate(
        model,
        data,
        targets=target,
        task=task,  # type: ignore[arg-type]
        slices=slices,
        baseline=baseline,
        thresholds={k: Threshold.parse(v) for k, v in thresholds.items()},
        explain=explain,  # type: ignore[arg-type]
        name=model_name,
    )
    if name not in result.metrics:
        raise InvalidArgument(f"evaluate_model: metric {name!r} is not computed; it has {sorted(result.metrics)}")
    champion_version = None
    if result.baseline_model and result.baseline_model.startswith("models:/"):
        champion_version = int(result.baseline_model.rsplit("/", 1)[1])
    reasons = result.blessing.reasons
    if result.passed:
        reason = (
            "; ".join(reasons)
            if reasons
            else (
                f"passes the gate against the champion v{champion_version}" if champion_version else "passes the gate"
            )
        )
    else:
        reason = "; ".join(c.message for c in result.blessing.checks if not c.passed)
    report = {
        "passed": result.passed,
        "reason": reason,
        "metric": name,
        "higher_is_better": higher_is_better(name),
        "candidate": result.metrics[name],
        "champion": (result.baseline or {}).get(name),
        "champion_version": champion_version,
        "model_name": model_name,
        "metrics": result.metrics,
        "champion_metrics": result.baseline or {},
        "run_id": result.run_id,
        "checks": [c.message for c in result.blessing.checks],
        "slices": {label: s.metrics for label, s in result.slices.items()},
    }
    set_tags({"treadle.gate": "passed" if result.passed else "failed", "treadle.evaluation.run": result.run_id})
    if not result.passed and require_pass:
        raise GateFailed(f"evaluate_model: the candidate did not pass the gate: {reason}", report)
    return report
