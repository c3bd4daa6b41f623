"""Serving a stored deployment over HTTP: canary split, sticky A/B, shadow, live spec changes.

Every test registers real models (scikit-learn and python-flavor) in a SQLite store, applies a
deployment through the rollout service and talks to a real uvicorn server with httpx.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.serving.deploy_support import Constant, ListSink, infer, register_python, serving, value, wait_for
from treadle.client import Client
from treadle.models import save_model
from treadle.rollout import ABSpec, DeploymentSpec, ReplicaSpec, ShadowSpec, Variant, unit_fraction

INLINE = ReplicaSpec(min_replicas=0)  # models run in the server process: no worker start-up in tests


@pytest.fixture
def client(sqlite_uri: str, tmp_path: Path) -> Client:
    return Client(sqlite_uri, str(tmp_path / "artifacts"))


def test_canary_split_is_within_tolerance_and_counts_reach_the_store(client: Client, tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    models = {}
    for version, c in ((1, 1.0), (2, 0.001)):
        models[version] = make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X, y)
        save_model(models[version], tmp_path / f"lr{version}", input_example=X[:2])
        assert client.register_model(str(tmp_path / f"lr{version}"), "churn").version == version
    client.set_alias("churn", "champion", 1)
    rows = X[:: len(X) // 20][:20]
    assert (models[1].predict_proba(rows) != models[2].predict_proba(rows)).any()
    client.rollout.apply_deployment(
        DeploymentSpec(
            name="churn-canary",
            routes=[
                Variant(name="champion", model="models:/churn@champion", weight=80),
                Variant(name="canary", model="models:/churn/2", weight=20),
            ],
            replicas=INLINE,
        )
    )
    n = 500
    seen: Counter[str] = Counter()
    with serving(client, "churn-canary") as (url, _), httpx.Client(timeout=30) as http:
        meta = http.get(f"{url}/v2/models/churn-canary").json()
        assert meta["name"] == "churn-canary" and len(meta["inputs"]) >= 1
        assert http.get(f"{url}/v2/models/churn-canary/ready").json()["ready"] is True
        for i in range(n):
            row = rows[i % len(rows)]
            body = {
                "inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64", "data": row.tolist()}],
                "outputs": [{"name": "predict_proba"}],
            }
            r = http.post(f"{url}/v2/models/churn-canary/infer", json=body)
            assert r.status_code == 200, r.text
            doc = r.json()
            variant, decision = doc["parameters"]["variant"], doc["parameters"]["decision_id"]
            assert r.headers["x-treadle-variant"] == variant and r.headers["x-treadle-decision-id"] == decision
            assert decision.startswith(f"churn-canary/1/{variant}/")
            version = 1 if variant == "champion" else 2
            assert doc["model_version"] == str(version)
            proba = np.asarray(doc["outputs"][0]["data"], dtype=np.float64)
            np.testing.assert_allclose(proba, models[version].predict_proba(row[None, :]).reshape(-1), rtol=1e-9)
            seen[variant] += 1
        # /invocations answers from the same router and carries the decision too
        inv = http.post(f"{url}/invocations", json={"inputs": rows[:1].tolist()}).json()
        assert inv["variant"] in ("champion", "canary") and inv["decision_id"].startswith("churn-canary/1/")
        seen[inv["variant"]] += 1

        def stored() -> dict[str, int] | None:
            stats = client.rollout.get_stats("churn-canary")
            got = {v.variant: v.requests for v in stats.variants}
            return got if got == dict(seen) else None

        wait_for(stored, timeout_s=10)
    share = seen["canary"] / (n + 1)
    assert abs(share - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n), seen
    stats = client.rollout.get_stats("churn-canary")
    assert not stats.srm and all(v.errors == 0 and v.p50_ms is not None for v in stats.variants)


def test_ab_is_sticky_per_unit_however_the_unit_is_sent(client: Client, tmp_path: Path) -> None:
    assert register_python(client, tmp_path, "rec", Constant(1.0)) == 1
    assert register_python(client, tmp_path, "rec", Constant(2.0)) == 2
    client.rollout.apply_deployment(
        DeploymentSpec(
            name="rec-ab",
            ab=ABSpec(
                unit_key="user_id",
                variants=[Variant(name="a", model="models:/rec/1"), Variant(name="b", model="models:/rec/2")],
            ),
            replicas=INLINE,
        )
    )
    users = [f"user-{i}" for i in range(30)]
    assigned: dict[str, set[str]] = {u: set() for u in users}
    with serving(client, "rec-ab") as (url, _), httpx.Client(timeout=30) as http:
        for round_ in range(4):
            for user in users:
                how = (round_ + len(user)) % 4
                if how == 0:
                    r = infer(http, url, "rec-ab", parameters={"user_id": user})
                elif how == 1:
                    r = infer(http, url, "rec-ab", headers={"x-treadle-unit": user})
                elif how == 2:
                    column = {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": [user]}
                    r = infer(http, url, "rec-ab", extra=[column])
                else:
                    r = infer(http, url, "rec-ab", parameters={"unit": user})
                assert r.status_code == 200, r.text
                variant = r.json()["parameters"]["variant"]
                assert r.json()["parameters"]["decision_id"].startswith(f"rec-ab/1/{variant}/")
                assert value(r) == (1.0 if variant == "a" else 2.0)  # the variant's own model answered
                assigned[user].add(variant)
        missing = infer(http, url, "rec-ab")
        assert missing.status_code == 400 and "user_id" in missing.json()["error"]
        two = {"name": "user_id", "shape": [2], "datatype": "BYTES", "data": ["u1", "u2"]}
        mixed = http.post(
            f"{url}/v2/models/rec-ab/infer",
            json={"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2]}, two]},
        )
        assert mixed.status_code == 400 and "user_id" in mixed.json()["error"]
    assert all(len(v) == 1 for v in assigned.values()), assigned  # sticky
    by_hash = {u: ("a" if unit_fraction("rec-ab", u) < 0.5 else "b") for u in users}
    assert {u: next(iter(v)) for u, v in assigned.items()} == by_hash  # the documented hash, in any process
    assert set(by_hash.values()) == {"a", "b"}


def test_shadow_is_mirrored_compared_and_logged_but_never_returned(client: Client, tmp_path: Path) -> None:
    register_python(client, tmp_path, "score", Constant(1.0))
    register_python(client, tmp_path, "score", Constant(2.0, delay_s=0.2))  # a slow, different shadow
    client.rollout.apply_deployment(
        DeploymentSpec(
            name="score",
            routes=[Variant(name="main", model="models:/score/1")],
            shadow=ShadowSpec(model="models:/score/2", percent=50),
            replicas=INLINE,
        )
    )
    sink = ListSink()
    n = 200
    decisions: set[str] = set()
    latencies: list[float] = []
    with serving(client, "score", sink=sink) as (url, endpoint), httpx.Client(timeout=30) as http:
        for i in range(n):
            start = time.perf_counter()
            r = infer(http, url, "score", float(i))
            latencies.append(time.perf_counter() - start)
            assert r.status_code == 200 and value(r) == 1.0  # never the shadow's 2.0
            assert r.json()["model_version"] == "1"
            decisions.add(r.json()["parameters"]["decision_id"])
        wait_for(lambda: endpoint.mirror.dropped + len(sink.by_route("shadow")) >= 50 and not endpoint.mirror._tasks)
        shadows = sink.by_route("shadow")
        stats = wait_for(
            lambda: (s := client.rollout.get_stats("score")).variants[0].shadow_requests == len(shadows) and s
        )
        metrics = http.get(f"{url}/metrics").text
    assert abs(len(shadows) + endpoint.mirror.dropped - n / 2) < 4 * math.sqrt(n / 4)
    assert all(s.outputs is not None and float(s.outputs["predict"][0]) == 2.0 for s in shadows)
    assert all(s.status == 200 and s.model_version == "2" and s.decision_id in decisions for s in shadows)
    primary = sink.by_route("primary")
    assert len(primary) == n and all(float(p.outputs["predict"][0]) == 1.0 for p in primary if p.outputs)
    assert stats.variants[0].shadow_disagreements == len(shadows)  # 2.0 never agrees with 1.0
    assert "shadow" in metrics
    # the 200 ms shadow never delays a reply: the median primary answer is far below it
    assert float(np.median(latencies)) < 0.1, float(np.median(latencies))


def _routes(spec: DeploymentSpec, *routes: tuple[str, str, float]) -> DeploymentSpec:
    return spec.model_copy(update={"routes": [Variant(name=n, model=m, weight=w) for n, m, w in routes]})


def test_new_revision_swaps_under_load_without_failed_requests(client: Client, tmp_path: Path) -> None:
    for v in (1.0, 2.0, 3.0):
        register_python(client, tmp_path, "m", Constant(v))
    spec = DeploymentSpec(
        name="swap",
        routes=[Variant(name="old", model="models:/m/1", weight=1), Variant(name="new", model="models:/m/2", weight=0)],
        replicas=INLINE,
    )
    client.rollout.apply_deployment(spec)
    failures: list[str] = []
    answers: list[tuple[float, str]] = []
    stop = threading.Event()
    with serving(client, "swap") as (url, endpoint):
        before = dict(endpoint._live.variants) if endpoint._live else {}

        def load() -> None:
            with httpx.Client(timeout=30) as http:
                while not stop.is_set():
                    r = infer(http, url, "swap")
                    if r.status_code != 200:
                        failures.append(r.text)
                    else:
                        answers.append((value(r), r.json()["parameters"]["variant"]))

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            # weights only: the loaded models are reused
            flipped = _routes(spec, ("old", "models:/m/1", 0), ("new", "models:/m/2", 1))
            assert client.rollout.apply_deployment(flipped).revision == 2
            wait_for(lambda: endpoint.deployment is not None and endpoint.deployment.revision == 2)
            assert endpoint._live is not None
            assert all(endpoint._live.variants[k] is before[k] for k in ("old", "new"))
            mark = len(answers)
            time.sleep(0.3)
            assert answers[mark + 5 :] and all(a == (2.0, "new") for a in answers[mark + 5 :])
            # a new model for a variant: loaded before the swap, the replaced one stopped after
            changed = _routes(spec, ("old", "models:/m/1", 0), ("new", "models:/m/3", 1))
            assert client.rollout.apply_deployment(changed).revision == 3
            wait_for(lambda: endpoint.deployment is not None and endpoint.deployment.revision == 3)
            mark = len(answers)
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert answers[mark + 5 :] and all(a == (3.0, "new") for a in answers[mark + 5 :])
        wait_for(lambda: not before["new"].ready)  # the model of revision 2's "new" variant was retired
        assert before["old"].ready  # still the (0-weight) control of revision 3
    assert not failures, failures[:3]
    assert len(answers) > 50


def test_alias_moved_by_hand_is_followed_without_a_new_revision(client: Client, tmp_path: Path) -> None:
    from treadle.serving._app import create_serving_app
    from treadle.serving._deploy import deployment_endpoint
    from treadle.testing.server import serve

    register_python(client, tmp_path, "pick", Constant(1.0))
    register_python(client, tmp_path, "pick", Constant(2.0))
    client.set_alias("pick", "champion", 1)
    client.rollout.apply_deployment(
        DeploymentSpec(name="pick", routes=[Variant(name="main", model="models:/pick@champion")], replicas=INLINE)
    )
    endpoint = deployment_endpoint("pick", client)  # what `treadle serve deployment pick` builds (2 s loops)
    assert not endpoint.ready and endpoint.metadata()["versions"] == []
    app = create_serving_app([endpoint], feedback=endpoint.feedback)
    with serve(app) as url, httpx.Client(timeout=30) as http:
        assert value(infer(http, url, "pick")) == 1.0
        client.set_alias("pick", "champion", 2, reason="by hand")
        wait_for(lambda: value(infer(http, url, "pick")) == 2.0, timeout_s=15)
        r = infer(http, url, "pick")
        assert r.json()["model_version"] == "2" and r.json()["parameters"]["decision_id"].startswith("pick/1/main/")
        assert http.get(f"{url}/v2/models/pick").json()["versions"] == ["2"]
    assert client.rollout.get_deployment("pick").revision == 1
