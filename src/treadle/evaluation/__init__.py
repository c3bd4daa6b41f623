"""Model evaluation: metrics per task and per slice, comparison with a baseline, a gate that
writes a blessing, plots, explanations, and a model's history across versions and pipeline runs.

    import treadle as td

    result = td.evaluate("models:/churn/4", "churn-test@3", targets="churned", slices=["region"],
                         baseline="models:/churn@champion",
                         thresholds={"roc_auc": {"lower": 0.8, "min_change": 0.0}})
    result.passed, result.metrics, result.comparison
    td.evaluation.history("churn", metric="roc_auc")
"""

from treadle.evaluation._evaluate import evaluate
from treadle.evaluation._history import compare, history
from treadle.evaluation._log import blessing_of
from treadle.evaluation._metrics import HIGHER_IS_BETTER, higher_is_better
from treadle.evaluation._records import Blessing, Check, EvaluationResult, SliceMetrics, Threshold

__all__ = [
    "HIGHER_IS_BETTER",
    "Blessing",
    "Check",
    "EvaluationResult",
    "SliceMetrics",
    "Threshold",
    "blessing_of",
    "compare",
    "evaluate",
    "higher_is_better",
    "history",
]
