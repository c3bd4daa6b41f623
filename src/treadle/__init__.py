"""treadle: the whole machine-learning loop in one package.

``import treadle as td``; ``td.set_experiment``, ``with td.start_run(): td.log_metric(...)``,
``td.Client(uri)`` for explicit use; ``@td.step`` / ``@td.pipeline`` for pipelines, ``td.tune`` for
hyperparameter studies, ``td.training.launch`` for distributed training. ``TREADLE_URI`` selects a local
database or a server.
"""

from typing import Any as _Any

from treadle import data, datasets, errors, features, pipelines, training
from treadle._version import __version__
from treadle.client import (
    ActiveRun,
    BatchError,
    Client,
    active_run,
    end_run,
    flush,
    get_client,
    load_model,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_input,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    log_table,
    log_text,
    register_model,
    search_runs,
    set_alias,
    set_experiment,
    set_tag,
    set_tags,
    set_uri,
    start_run,
)
from treadle.config import Settings
from treadle.data import transform
from treadle.pipelines import pipeline, step
from treadle.rollout import deployments
from treadle.tracking import Experiment, Metric, MetricSeries, Run, RunPage

__all__ = [
    "ActiveRun",
    "BatchError",
    "Client",
    "Experiment",
    "Metric",
    "MetricSeries",
    "Run",
    "RunPage",
    "Settings",
    "__version__",
    "active_run",
    "data",
    "datasets",
    "deployments",
    "end_run",
    "errors",
    "evaluate",
    "evaluation",
    "features",
    "flush",
    "get_client",
    "load_model",
    "load_study",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "monitoring",
    "pipeline",
    "pipelines",
    "register_model",
    "search_runs",
    "set_alias",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_uri",
    "start_run",
    "step",
    "training",
    "transform",
    "tune",
    "tuning",
]


def __getattr__(name: str) -> _Any:
    """``td.tune``, ``td.load_study`` and ``td.tuning`` import Optuna on first use, not with treadle;
    ``td.evaluate``, ``td.evaluation`` and ``td.monitoring`` load their (scipy-heavy) engines likewise."""
    if name in ("tune", "load_study", "tuning"):
        import treadle.tuning

        return treadle.tuning if name == "tuning" else getattr(treadle.tuning, name)
    if name in ("evaluate", "evaluation"):
        import treadle.evaluation

        return treadle.evaluation if name == "evaluation" else treadle.evaluation.evaluate
    if name == "monitoring":
        import treadle.monitoring

        return treadle.monitoring
    raise AttributeError(f"module 'treadle' has no attribute {name!r}")
