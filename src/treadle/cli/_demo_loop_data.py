"""The closed-loop demo's data and traffic: loan applications before and during a recession.

Applications have numeric columns (income, loan amount, credit score, age, debt ratio) and
categorical ones (purpose, employment) and a binary label (``default``). In the *normal* regime
defaults follow credit score, debt and loan-to-income; in the *recession* incomes fall, credit scores
drop, business loans and the self-employed take a larger share and default far more often, so both
the inputs drift and the old model's answers get worse (about 0.6 accuracy against 0.83 for a model
retrained on recession data).

:data:`loan_features` is the feature transform (a derived ratio and the two categories as codes):
one function, applied to the training table in batch and to each served application, so training
and serving cannot skew. :func:`send` is the traffic: one request per application to the real
inference server (:func:`serving`: in-process, models inline), and optionally its reward (1 when the
prediction was right) through ``/feedback``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from treadle.cli._demo_serving import _serving
from treadle.data import transform

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from treadle.client import Client
    from treadle.serving._reqlog import RequestLogger

TARGET = "default"
PURPOSES = ["car", "home", "education", "business"]
EMPLOYMENT = ["salaried", "self-employed", "unemployed"]
FEATURES = [
    "income",
    "loan_amount",
    "credit_score",
    "age",
    "debt_ratio",
    "loan_to_income",
    "purpose_code",
    "employment_code",
]
CATEGORICAL = ["purpose_code", "employment_code"]
CALLERS = 2  # concurrent callers, as a real service has


def applications(n: int, seed: int, recession: bool = False) -> pd.DataFrame:
    """``n`` labelled loan applications of the normal regime or of the recession (module doc)."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.8 - (0.35 if recession else 0.0), 0.4, n).round(-2)
    loan = rng.lognormal(9.5 + (0.2 if recession else 0.0), 0.5, n).round(-2)
    credit = np.clip(rng.normal(680 - (45 if recession else 0), 60, n), 300, 850).round()
    age = rng.integers(21, 70, n)
    debt = rng.beta(2, 5, n).round(3)
    purpose = rng.choice(PURPOSES, n, p=[0.15, 0.15, 0.15, 0.55] if recession else [0.35, 0.25, 0.2, 0.2])
    employment = rng.choice(EMPLOYMENT, n, p=[0.5, 0.35, 0.15] if recession else [0.7, 0.2, 0.1])
    ratio = loan / income
    if recession:  # business loans and the self-employed default; credit scores matter less
        logit = (
            -1.2
            - 0.005 * (credit - 640)
            + 2.0 * (debt - 0.28)
            + 3.5 * (purpose == "business")
            + 2.5 * (employment == "self-employed")
            - 1.5 * (purpose == "home")
        )
    else:
        logit = (
            -0.6
            - 0.03 * (credit - 680)
            + 5.0 * (debt - 0.28)
            + 2.0 * (ratio - 0.3)
            + 0.8 * (employment == "unemployed")
        )
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "income": income,
            "loan_amount": loan,
            "credit_score": credit,
            "age": age,
            "debt_ratio": debt,
            "purpose": purpose,
            "employment": employment,
            TARGET: label,
        }
    )


@transform
def loan_features(batch: pd.DataFrame) -> pd.DataFrame:
    """The model's features: the loan-to-income ratio, and purpose and employment as integer codes
    (-1 for a value never seen in training)."""
    out = batch.copy()
    out["loan_to_income"] = (batch["loan_amount"] / batch["income"]).round(4)
    out["purpose_code"] = batch["purpose"].map({p: i for i, p in enumerate(PURPOSES)}).fillna(-1).astype("int64")
    out["employment_code"] = (
        batch["employment"].map({e: i for i, e in enumerate(EMPLOYMENT)}).fillna(-1).astype("int64")
    )
    return out


@dataclass
class Sent:
    """What :func:`send` did: request ids with their labels, the variant that answered, rewards."""

    ids: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    variants: dict[str, int] = field(default_factory=dict)
    correct: int = 0
    rewarded: int = 0


def send(url: str, deployment: str, frame: pd.DataFrame, prefix: str, reward: bool, into: Sent | None = None) -> Sent:
    """POST each row of ``frame`` (features and label) to ``/invocations`` of ``deployment`` with the
    request id ``<prefix>-<i>``; with ``reward`` also POST its reward to ``/feedback``. Adds to
    ``into`` when given."""
    import httpx

    # records, not a split matrix: a row of ints and floats would become all floats
    rows: list[dict[str, Any]] = [
        {c: _plain(v) for c, v in zip(FEATURES, row, strict=True)} for row in frame[FEATURES].itertuples(index=False)
    ]
    labels = frame[TARGET].astype(int).tolist()
    sent = into if into is not None else Sent()
    lock = threading.Lock()

    def one(http: httpx.Client, i: int) -> None:
        rid = f"{prefix}-{i:05d}"
        body = {"dataframe_records": [rows[i]]}
        r = http.post("/invocations", json=body, params={"model": deployment}, headers={"x-request-id": rid})
        if not r.is_success:
            raise RuntimeError(f"the demo server answered /invocations with {r.status_code}: {r.text}")
        right = int(r.json()["predictions"][0]) == labels[i]
        if reward:
            f = http.post("/feedback", json={"decision_id": r.headers["x-treadle-decision-id"], "reward": float(right)})
            if not f.is_success:
                raise RuntimeError(f"the demo server answered /feedback with {f.status_code}: {f.text}")
        with lock:
            sent.ids.append(rid)
            sent.labels.append(labels[i])
            variant = r.headers.get("x-treadle-variant", "")
            sent.variants[variant] = sent.variants.get(variant, 0) + 1
            sent.correct += int(right)
            sent.rewarded += int(reward)

    def caller(start: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(start, len(rows), CALLERS):
                one(http, i)

    with ThreadPoolExecutor(CALLERS, thread_name_prefix="treadle-demo-loop") as pool:
        list(pool.map(caller, range(CALLERS)))
    return sent


def _plain(value: Any) -> Any:
    """A JSON number from a numpy scalar."""
    return value.item() if hasattr(value, "item") else value


def serving_app(client: Client, deployment: str) -> tuple[Starlette, RequestLogger]:
    """The inference server for ``deployment``, with its request log and the feedback hook; its
    controller checks auto-promotion every half second (the demo is short)."""
    import asyncio

    from treadle.serving._app import create_serving_app
    from treadle.serving._deploy import DeploymentEndpoint
    from treadle.serving._metrics import ServingMetrics
    from treadle.serving._reqlog import RequestLogger

    metrics = ServingMetrics()
    sink = RequestLogger(client)
    endpoint = DeploymentEndpoint(
        deployment, client, sink=sink, metrics=metrics, control_interval_s=0.5, watch_interval_s=0.5
    )

    async def feedback(decision_id: str, reward: float) -> dict[str, Any]:
        got = await asyncio.to_thread(client.rollout.record_feedback, decision_id, reward)
        return got.model_dump(mode="json")

    return create_serving_app([endpoint], sink=sink, metrics=metrics, feedback=feedback), sink


@contextmanager
def serving(client: Client, deployment: str) -> Iterator[str]:
    """A fresh in-process inference server for ``deployment``; yields its URL. Stopping it flushes
    the traffic counts and the request log."""
    app, _ = serving_app(client, deployment)
    with _serving(app) as url:
        yield url


def serve_frame(client: Client, deployment: str, frame: pd.DataFrame, prefix: str, reward: bool) -> Sent:
    """Serve ``frame``, one request per row (see :func:`send`), through a fresh server."""
    with serving(client, deployment) as url:
        return send(url, deployment, frame, prefix, reward)
