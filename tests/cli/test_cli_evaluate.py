"""``treadle evaluate`` (exit 1 when the gate fails) and ``treadle evaluations history``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import treadle as td
from tests.cli.helpers import Invoke, Ok


def _setup() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=400), "segment": rng.choice(["x", "y"], 400)})
    frame["label"] = (frame["a"] + rng.normal(size=400) * 0.5 > 0).astype(int)
    model = LogisticRegression().fit(frame[["a"]], frame["label"])
    with td.start_run():
        uri = td.log_model(model, "model", input_example=frame[["a"]].head(), requirements=["scikit-learn"])
    td.register_model(uri, "churn")
    td.set_alias("churn", "champion", 1)
    td.datasets.create("holdout", frame)


def test_evaluate_passes_prints_and_records(ok: Ok) -> None:
    _setup()
    text = ok(
        "evaluate",
        "models:/churn/1",
        "--data",
        "holdout@1",
        "--target",
        "label",
        "--slice",
        "segment",
        "--baseline",
        "models:/churn@champion",
        "--threshold",
        "accuracy>=0.7",
        "--threshold",
        "accuracy:change>=0",
        "--explain",
        "none",
    )
    assert "passed" in text and "segment=x" in text and "roc_auc" in text
    data = json.loads(
        ok("evaluate", "models:/churn/1", "--data", "holdout", "--target", "label", "--json", "--explain", "none")
    )
    assert data["model"] == "models:/churn/1" and data["blessing"]["passed"] and data["metrics"]["accuracy"] > 0.7
    history = ok("evaluations", "history", "churn", "--metric", "accuracy")
    assert "2 evaluations" in history and "accuracy" in history
    rows = json.loads(ok("evaluations", "history", "churn", "--json"))
    assert [r["version"] for r in rows] == [1, 1] and rows[1]["run_id"] == data["run_id"]


def test_failed_gate_and_bad_input_exit_1(cli: Invoke) -> None:
    _setup()
    failed = cli(
        "evaluate",
        "models:/churn/1",
        "--data",
        "holdout@1",
        "--target",
        "label",
        "--threshold",
        "accuracy>=0.999",
        "--explain",
        "none",
    )
    assert failed.exit_code == 1 and "FAILED" in failed.output and "lower bound 0.999" in failed.output
    bad = cli("evaluate", "models:/churn/1", "--data", "holdout@1", "--target", "label", "--threshold", "acc=1")
    assert bad.exit_code == 1 and "bad threshold" in bad.output
    missing = cli("evaluate", "models:/churn/1", "--data", "holdout@1", "--target", "nope")
    assert missing.exit_code == 1 and "targets column 'nope'" in missing.output
    assert "No evaluations of nobody" in cli("evaluations", "history", "nobody").output
