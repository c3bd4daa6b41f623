"""Demo scenario: serve the registered iris models as a canary and as an A/B test, with real traffic.

Two deployments over the registry scenario's aliases: ``iris-canary`` (80% champion, 20% the
challenger as a canary, half the requests mirrored to the challenger as a shadow, guardrails on
error rate and p99 latency) and ``iris-ab`` (a sticky A/B test on ``user_id``). Both are served
in-process for a few seconds by the real inference server (uvicorn on a free loopback port, models
inline so no worker process starts), fed ~300 noisy iris rows over the Open Inference Protocol and
``/invocations``, and every answer is rewarded through ``POST /feedback`` (1 when the prediction
matches the label). Stopping the server flushes the traffic counts and the request log, so the
deployment pages, ``treadle deploy status`` and the request log have something real to show.
Auto-promotion stays off so the demo always ends in the same state; applying the same specs again
writes no new revision, so a second demo adds its traffic to the first one's.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import treadle as td
from treadle.cli._demo_base import DemoContext, Scenario, use_experiment
from treadle.cli._demo_registry import MODEL_NAME
from treadle.rollout import DeploymentSpec

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from treadle.client import Client
    from treadle.serving._reqlog import RequestLogger

EXPERIMENT = "iris-serving"
CANARY, AB = "iris-canary", "iris-ab"
CHAMPION, CHALLENGER = f"models:/{MODEL_NAME}@champion", f"models:/{MODEL_NAME}@challenger"
INLINE = {"min_replicas": 0}  # the models run in the server's threads: no worker processes to spawn

CANARY_SPEC = DeploymentSpec.model_validate(
    {
        "name": CANARY,
        "model": MODEL_NAME,
        "routes": [
            {"name": "champion", "model": CHAMPION, "weight": 80},
            {"name": "canary", "model": CHALLENGER, "weight": 20},
        ],
        "shadow": {"model": CHALLENGER, "percent": 50},
        "guardrails": {"max_error_rate": 0.05, "max_p99_latency_ms": 500},
        "auto_promote": {"enabled": False},
        "replicas": INLINE,
    }
)
AB_SPEC = DeploymentSpec.model_validate(
    {
        "name": AB,
        "model": MODEL_NAME,
        "ab": {
            "unit_key": "user_id",
            "variants": [
                {"name": "control", "model": CHAMPION, "weight": 50},
                {"name": "treatment", "model": CHALLENGER, "weight": 50},
            ],
        },
        "auto_promote": {"enabled": False},
        "replicas": INLINE,
    }
)

OIP_REQUESTS, INVOCATIONS, AB_USERS, AB_PER_USER = 140, 60, 50, 2  # 300 requests in all
CALLERS = 2  # concurrent callers
NOISE = 0.45  # measurement noise (cm) so the two models disagree now and then


@contextmanager
def _serving(app: Starlette, timeout_s: float = 60.0) -> Iterator[str]:
    """Run ``app`` under uvicorn on a thread, on a loopback socket bound here (no port race);
    yields its URL once the lifespan has started every endpoint, and shuts it down (drained) after."""
    import uvicorn

    from treadle.serving._server import uvicorn_options

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: leave the CLI's logging alone (uvicorn's errors still reach stderr)
    config = uvicorn.Config(
        app, log_config=None, log_level="error", access_log=False, lifespan="on", **uvicorn_options()
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="treadle-demo-serving", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo inference server did not start (see the log above)")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()


def _app(client: Client) -> tuple[Starlette, RequestLogger]:
    """The inference server for both deployments, their request logger, and the feedback hook."""
    from treadle.serving._app import create_serving_app
    from treadle.serving._deploy import deployment_endpoint
    from treadle.serving._metrics import ServingMetrics
    from treadle.serving._reqlog import RequestLogger

    metrics = ServingMetrics()
    sink = RequestLogger(client)
    endpoints = [deployment_endpoint(name, client, sink=sink, metrics=metrics) for name in (CANARY, AB)]

    async def feedback(decision_id: str, reward: float) -> dict[str, Any]:
        # The decision id names its deployment, so one hook serves both.
        got = await asyncio.to_thread(client.rollout.record_feedback, decision_id, reward)
        return got.model_dump(mode="json")

    return create_serving_app(list(endpoints), sink=sink, metrics=metrics, feedback=feedback), sink


def _oip(row: list[float], **parameters: str) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": [{"name": "iris", "shape": [1, 4], "datatype": "FP64", "data": row}]}
    if parameters:
        body["parameters"] = parameters
    return body


def _traffic(url: str, rows: list[list[float]], labels: list[int], columns: list[str]) -> Traffic:
    """Send the requests, and a reward for each answer (1 when it names the flower's species)."""
    import httpx

    traffic = Traffic()
    lock = threading.Lock()

    def post(http: httpx.Client, path: str, body: dict[str, Any], **params: str) -> httpx.Response:
        response = http.post(path, json=body, params=params)
        if not response.is_success:
            raise RuntimeError(f"the demo server answered {path} with {response.status_code}: {response.text}")
        return response

    def one(http: httpx.Client, i: int) -> None:
        user = None
        if i < OIP_REQUESTS:
            kind, r = "oip", post(http, f"/v2/models/{CANARY}/infer", _oip(rows[i]))
            prediction = r.json()["outputs"][0]["data"][0]
        elif i < OIP_REQUESTS + INVOCATIONS:
            body = {"dataframe_split": {"columns": columns, "data": [rows[i]]}}
            kind, r = "invocations", post(http, "/invocations", body, model=CANARY)
            prediction = r.json()["predictions"][0]
        else:
            user = f"user-{i % AB_USERS:03d}"  # each user comes back: the variant must stick
            kind, r = "ab", post(http, f"/v2/models/{AB}/infer", _oip(rows[i], user_id=user))
            prediction = r.json()["outputs"][0]["data"][0]
        correct = int(prediction) == labels[i]
        post(http, "/feedback", {"decision_id": r.headers["x-treadle-decision-id"], "reward": float(correct)})
        with lock:
            traffic.sent.update({kind: 1, "feedback": 1, "correct": int(correct)})
            if user is not None:
                traffic.users.setdefault(user, set()).add(r.headers["x-treadle-variant"])

    def caller(start: int) -> None:  # concurrent callers, as a real service has
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(start, total_requests(), CALLERS):
                one(http, i)

    with ThreadPoolExecutor(CALLERS, thread_name_prefix="treadle-demo-caller") as pool:
        list(pool.map(caller, range(CALLERS)))
    return traffic


@dataclass
class Traffic:
    """What the demo sent: counts by kind, and the variants each A/B user was shown."""

    sent: Counter[str] = field(default_factory=Counter)
    users: dict[str, set[str]] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return self.sent["oip"] + self.sent["invocations"] + self.sent["ab"]

    @property
    def sticky(self) -> bool:
        return all(len(variants) == 1 for variants in self.users.values())


def total_requests() -> int:
    return OIP_REQUESTS + INVOCATIONS + AB_USERS * AB_PER_USER


def _rows(total: int) -> tuple[list[list[float]], list[int], list[str]]:
    """``total`` iris flowers measured with some noise, their species, and the feature names."""
    import numpy as np
    from sklearn.datasets import load_iris

    iris = load_iris()
    rng = np.random.default_rng()
    picked = rng.integers(0, len(iris.target), total)
    noisy = np.clip(iris.data[picked] + rng.normal(0.0, NOISE, (total, 4)), 0.1, None).round(2)
    return noisy.tolist(), iris.target[picked].tolist(), list(iris.feature_names)


def _metrics(traffic: Traffic, seconds: float, logged: int) -> dict[str, float]:
    """The run's metrics: what was sent, then each variant's live statistics as the store has them."""
    sent = traffic.sent
    metrics: dict[str, float] = {
        "requests": float(traffic.requests),
        "requests_oip": float(sent["oip"]),
        "requests_invocations": float(sent["invocations"]),
        "requests_ab": float(sent["ab"]),
        "feedback": float(sent["feedback"]),
        "served_accuracy": sent["correct"] / max(1, sent["feedback"]),
        "serving_seconds": seconds,
        "request_log_rows": float(logged),
    }
    for name in (CANARY, AB):
        stats = td.deployments.status(name)
        prefix = name.removeprefix("iris-")
        if stats.srm_p_value is not None:
            metrics[f"{prefix}.srm_p_value"] = stats.srm_p_value
        for v in stats.variants:
            values = {
                "requests": v.requests,
                "error_rate": v.error_rate,
                "p50_ms": v.p50_ms,
                "p99_ms": v.p99_ms,
                "rewards": v.rewards,
                "reward_mean": v.reward_mean,
                "prob_best": v.prob_best,
                "observed_share": v.observed_share,
                "shadow_requests": v.shadow_requests or None,
                "shadow_disagreements": v.shadow_disagreements or None,
            }
            metrics.update({f"{prefix}.{v.variant}.{k}": float(x) for k, x in values.items() if x is not None})
    return metrics


def serve_iris(ctx: DemoContext) -> None:
    client = ctx.client
    canary = td.deployments.apply(CANARY_SPEC, reason="demo: canary the challenger at 20%", client=client)
    ab = td.deployments.apply(AB_SPEC, reason="demo: A/B test champion vs challenger", client=client)
    rows, labels, columns = _rows(total_requests())
    use_experiment(client, EXPERIMENT, "Iris models served: a canary with a shadow, and an A/B test.", {"demo": "true"})
    tags = {"demo": "true", "deployments": f"{CANARY},{AB}"}
    with td.start_run(name="serve-canary-and-ab", tags=tags):  # a failed serving marks the run failed
        app, sink = _app(client)
        started = time.perf_counter()
        with _serving(app) as url:
            traffic = _traffic(url, rows, labels, columns)
        seconds = time.perf_counter() - started  # with loading the models and the final flushes
        td.log_params(
            {
                "canary_revision": canary.revision,
                "ab_revision": ab.revision,
                "canary_split": "champion 80%, canary 20%, shadow 50%",
                "ab_unit_key": "user_id",
                "noise_cm": NOISE,
                "ab_sticky": traffic.sticky,
            }
        )
        td.log_metrics(_metrics(traffic, seconds, sink.written))
    ctx.step(f"served {traffic.requests} requests")


SERVING = Scenario(EXPERIMENT, runs=1, play=serve_iris)
