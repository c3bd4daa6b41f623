"""Seed data for the evaluation pages: two real scikit-learn versions of ``churn`` evaluated by
``td.evaluate`` on a dataset version (slices, a baseline, a gate that fails, plots, explanations),
and a third evaluation of v2 on a plain frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression

from treadle import Client
from treadle.datasets import create as create_dataset
from treadle.evaluation import evaluate
from treadle.models import save_model

MODEL, DATASET = "churn", "churn-test"
FEATURES = ["tenure", "spend"]


@dataclass
class EvalSeed:
    uri: str
    artifacts: str
    runs: list[str] = field(default_factory=list)  # v1 (no baseline), v2 vs v1 (gate fails), v2 again


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"tenure": rng.normal(size=n), "spend": rng.normal(size=n)})
    x["region"] = rng.choice(["eu", "us", "apac"], size=n, p=[0.5, 0.3, 0.2])
    noise = np.where(x["region"] == "apac", 2.0, 0.4)
    x["churned"] = (x["tenure"] + 0.5 * x["spend"] + rng.normal(size=n) * noise > 0).astype(int)
    return x


def seed_evaluations(root: Path) -> EvalSeed:
    uri, artifacts = f"sqlite:///{root / 'e.db'}", str(root / "art")
    client = Client(uri=uri, artifacts=artifacts)
    train, test = frame(400, 1), frame(300, 2)
    requirements = [f"scikit-learn=={sklearn.__version__}"]  # named: inferring them takes seconds
    for i, columns in enumerate((["spend"], FEATURES)):  # v1 sees one feature, v2 both: v2 is better
        folder = root / f"model-{i}"
        model = LogisticRegression().fit(train[columns], train["churned"])
        save_model(model, folder, input_example=train[columns].head(3), requirements=requirements)
        client.register_model(str(folder), MODEL)
    client.set_alias(MODEL, "champion", 1)
    create_dataset(DATASET, test, client=client)
    out = EvalSeed(uri, artifacts)
    first = evaluate(f"models:/{MODEL}/1", f"{DATASET}@1", targets="churned", slices=["region"], client=client)
    second = evaluate(
        f"models:/{MODEL}/2", f"{DATASET}@1", targets="churned", slices=["region"],
        baseline=f"models:/{MODEL}@champion", client=client,
        thresholds={"accuracy": {"lower": 0.6, "min_change": 0.0}, "roc_auc": {"lower": 0.99}},
    )  # fmt: skip
    third = evaluate(f"models:/{MODEL}/2", test, targets="churned", explain=False, client=client)
    out.runs = [r.run_id or "" for r in (first, second, third)]
    return out
