"""Seed data for the deployment pages: real scikit-learn models in the registry, deployments applied
through the rollout service, and traffic and rewards recorded through it as a serving process would."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression

from treadle import Client
from treadle.models import save_model
from treadle.rollout import DeploymentSpec, VariantTraffic, histogram

MODEL = "ranker"
CANARY = "ranker-canary"  # canary 90/10 with shadow, guardrails, auto-promote
AB = "ranker-ab"  # sticky A/B on user_id, no guardrails


@dataclass
class DeploySeed:
    uri: str
    artifacts: str
    root: Path
    folders: list[Path] = field(default_factory=list)  # three saved sklearn models, registered as v1-v3


def client_of(seeded: DeploySeed) -> Client:
    return Client(uri=seeded.uri, artifacts=seeded.artifacts)


def save_sklearn(root: Path, c: float) -> Path:
    """A LogisticRegression (C=``c``) on a small synthetic task, saved as a treadle model folder."""
    rng = np.random.default_rng(7)
    x = pd.DataFrame({"tenure": rng.normal(size=200), "spend": rng.normal(size=200)})
    y = (x["tenure"] + 0.5 * x["spend"] > 0).astype(int)
    folder = root / f"sklearn-c{c:g}"
    requirements = [f"scikit-learn=={sklearn.__version__}"]  # named: inferring them takes seconds
    save_model(LogisticRegression(C=c).fit(x, y), folder, input_example=x.head(3), requirements=requirements)
    return folder


def register_models(seeded: DeploySeed, name: str) -> None:
    """The three saved models as v1-v3 of ``name``, with ``champion`` → v1."""
    client = client_of(seeded)
    for folder in seeded.folders:
        client.register_model(str(folder), name)
    client.set_alias(name, "champion", 1, reason="baseline model")


def canary_spec(name: str = CANARY, model: str = MODEL, shadow: bool = True) -> DeploymentSpec:
    """control: ``model@champion`` at 90, canary: ``model`` v2 at 10, and v3 as a 50% shadow."""
    return DeploymentSpec.model_validate(
        {
            "name": name,
            "model": model,
            "alias": "champion",
            "routes": [
                {"name": "control", "model": f"models:/{model}@champion", "weight": 90},
                {"name": "canary", "model": f"models:/{model}/2", "weight": 10},
            ],
            "shadow": {"model": f"models:/{model}/3", "percent": 50} if shadow else None,
            "guardrails": {"max_error_rate": 0.05, "max_p99_latency_ms": 800, "min_requests": 50},
            "auto_promote": {"probability": 0.97, "min_samples": 500},
        }
    )


def ab_spec() -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": AB,
            "ab": {
                "unit_key": "user_id",
                "variants": [
                    {"name": "a", "model": f"models:/{MODEL}/1", "weight": 1},
                    {"name": "b", "model": f"models:/{MODEL}/2", "weight": 1},
                ],
            },
        }
    )


def serve_traffic(client: Client, name: str, revision: int, shape: dict[str, tuple[int, int, float, int]]) -> None:
    """Report traffic as a serving process does: {variant: (requests, errors, typical ms, shadow mirrored)},
    in a few deltas; a mirrored request disagrees with the shadow one time in fifty."""
    rng = random.Random(3)
    for _ in range(2):
        batch = []
        for variant, (requests, errors, ms, mirrored) in shape.items():
            n = requests // 2
            latencies = [rng.uniform(0.5 * ms, 1.5 * ms) for _ in range(n)]
            batch.append(
                VariantTraffic(
                    variant=variant,
                    requests=n,
                    errors=errors // 2,
                    latency_ms_buckets=histogram(latencies),
                    shadow_requests=mirrored // 2,
                    shadow_disagreements=mirrored // 100,
                )
            )
        client.rollout.record_traffic(name, revision, batch)


def give_rewards(client: Client, name: str, revision: int, variant: str, n: int, successes: int) -> None:
    """``n`` delayed rewards (``successes`` of them 1.0) for decisions of ``variant``."""
    for i in range(n):
        decision = f"{name}/{revision}/{variant}/{uuid.uuid4().hex[:16]}"
        client.rollout.record_feedback(decision, 1.0 if i < successes else 0.0)


def fresh_canary(seeded: DeploySeed, **traffic: tuple[int, int, float, int]) -> str:
    """A model of its own (v1-v3, champion → v1) and a canary over it, for tests that change things;
    ``traffic`` as in :func:`serve_traffic`. Returns the deployment's name (also the model's)."""
    client = client_of(seeded)
    name = f"d-{uuid.uuid4().hex[:8]}"
    register_models(seeded, name)
    dep = client.rollout.apply_deployment(canary_spec(name, name), actor="ana", reason="canary of v2")
    if traffic:
        serve_traffic(client, name, dep.revision, traffic)
    return name


def in_store(uri: str, artifacts: str, root: Path) -> DeploySeed:
    """A store to seed (``uri``, ``artifacts``), with the three sklearn models saved under ``root``."""
    folders = [save_sklearn(root, c) for c in (1.0, 0.1, 0.01)]
    return DeploySeed(uri=uri, artifacts=artifacts, root=root, folders=folders)


def seed_deployments(root: Path) -> DeploySeed:
    """A new store with ``ranker`` v1-v3 (champion → v1 with a reason), the canary with traffic and
    rewards, and an A/B test with no traffic yet."""
    seeded = in_store(f"sqlite:///{root / 'd.db'}", str(root / "art"), root)
    client = client_of(seeded)
    register_models(seeded, MODEL)
    client.rollout.apply_deployment(canary_spec(shadow=False), actor="ana", reason="first canary of v2")
    dep = client.rollout.apply_deployment(canary_spec(), actor="ana", reason="mirror v3 as a shadow")
    serve_traffic(client, CANARY, dep.revision, {"control": (900, 4, 12.0, 450), "canary": (100, 2, 40.0, 50)})
    give_rewards(client, CANARY, dep.revision, "control", 60, 15)
    give_rewards(client, CANARY, dep.revision, "canary", 20, 9)
    client.rollout.apply_deployment(ab_spec(), actor="bo", reason="A/B v1 against v2")
    return seeded
