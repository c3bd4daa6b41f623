"""What the built-in components share: recording into the step's run when there is one.

Inside a pipeline the engine makes each step's tracked run the active fluent run, so a component's
``td.log_metric`` lands there. Called as a plain function (a unit test, a notebook) there may be no
active run: then nothing is recorded and the component still returns its value.
"""

from __future__ import annotations

import math
import re
from typing import Any

import treadle as td


def in_run() -> bool:
    return td.active_run() is not None


_KEY = re.compile(r"[^\w\-./: ]")


def metric_key(key: str) -> str:
    """``key`` with what a metric or param key may not hold (e.g. "(cm)" of a column name) as ``_``."""
    return _KEY.sub("_", key)[:250]


def log_metrics(metrics: dict[str, float]) -> None:
    finite = {metric_key(k): float(v) for k, v in metrics.items() if isinstance(v, int | float) and math.isfinite(v)}
    if finite and in_run():
        td.log_metrics(finite)


def log_params(params: dict[str, Any]) -> None:
    if params and in_run():
        td.log_params(
            {metric_key(k): v if isinstance(v, str | int | float | bool) else repr(v) for k, v in params.items()}
        )


def log_dict(data: Any, artifact_file: str) -> None:
    if in_run():
        td.log_dict(data, artifact_file)


def set_tags(tags: dict[str, Any]) -> None:
    if tags and in_run():
        td.set_tags(tags)
