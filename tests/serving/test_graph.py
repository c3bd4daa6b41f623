"""Inference graphs over real HTTP: each kind answers what composing its sklearn models by hand gives."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from treadle.client import Client
from treadle.errors import InvalidArgument
from treadle.models import save_model
from treadle.rollout import ModelSpec, ReplicaSpec
from treadle.serving._app import create_serving_app
from treadle.serving._graph import graph_endpoints
from treadle.serving._graph_spec import GraphSpec
from treadle.serving._model import ModelEndpoint
from treadle.serving._types import Endpoint
from treadle.testing.server import serve

SERVING_FILE = """
graphs:
  - name: nested
    kind: ensemble
    members: [chain, lr]
  - name: chain
    kind: sequence
    steps: [project, classify]
  - name: avg_proba
    kind: ensemble
    members: [lr, tree, nb]
    combine: mean
    output: predict_proba
  - name: majority
    kind: ensemble
    members: [lr, tree, nb]
    combine: vote
  - name: weighted
    kind: ensemble
    members: [ridge, dtr, knn]
    weights: [2, 1, 1]
  - name: stacked
    kind: ensemble
    members: [lr, tree, nb]
    combine: stacking
    final: meta
  - name: by_country
    kind: switch
    branches:
      - when: {input: country, equals: DE}
        to: de
      - when: {parameter: tier, in: [gold, platinum]}
        to: gold
    default: {graph: {name: rest, kind: sequence, steps: [other]}}
  - name: de_only
    kind: switch
    branches:
      - when: {input: country, equals: DE}
        to: de
"""


def _quiet_save(model: Any, path: Path, example: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_model(model, path, input_example=example)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Fitted models (kept for composing by hand) saved as folders the server loads."""
    root = tmp_path_factory.mktemp("graph-models")
    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :8]
    rng = np.random.default_rng(0)
    project = LinearRegression().fit(X, X @ rng.normal(size=(8, 3)))
    fitted: dict[str, Any] = {
        "project": project,
        "classify": LogisticRegression(max_iter=5000).fit(project.predict(X), y),
        "lr": LogisticRegression(max_iter=5000).fit(X, y),
        "tree": DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y),
        "nb": GaussianNB().fit(X, y),
        "ridge": Ridge().fit(X, X[:, 0]),
        "dtr": DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, X[:, 0]),
        "knn": KNeighborsRegressor().fit(X, X[:, 0]),
    }
    members = np.column_stack([fitted[m].predict(X) for m in ("lr", "tree", "nb")])
    fitted["meta"] = LogisticRegression().fit(members, y)
    frame = pd.DataFrame(X[:, :4], columns=["a", "b", "c", "d"])
    fitted["de"] = LogisticRegression(max_iter=5000).fit(frame, y)
    fitted["gold"] = DecisionTreeClassifier(max_depth=1, random_state=0).fit(frame, y)
    fitted["other"] = DecisionTreeClassifier(max_depth=3, random_state=0).fit(frame, y)
    examples = {"project": X[:2], "classify": project.predict(X[:2]), "meta": members[:2]}
    for name, model in fitted.items():
        example = frame[:2] if name in ("de", "gold", "other") else examples.get(name, X[:2])
        _quiet_save(model, root / name, example)
    return {"root": root, "models": fitted, "X": X, "frame": frame}


@pytest.fixture(scope="module")
def server(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("graph-store")
    client = Client(f"sqlite:///{tmp / 'db.sqlite'}", str(tmp / "artifacts"))
    models: dict[str, Endpoint] = {
        name: ModelEndpoint(
            ModelSpec(name=name, uri=str(world["root"] / name), replicas=ReplicaSpec(min_replicas=0)), client
        )
        for name in world["models"]
    }
    graphs = graph_endpoints(yaml.safe_load(SERVING_FILE)["graphs"], models)
    with serve(create_serving_app([*models.values(), *graphs])) as url:
        yield url


def _infer(url: str, model: str, inputs: dict[str, np.ndarray], **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"inputs": [], **extra}
    for name, arr in inputs.items():
        datatype = "BYTES" if arr.dtype.kind in "OU" else "FP64"
        data = arr.ravel().tolist()
        body["inputs"].append({"name": name, "shape": list(arr.shape), "datatype": datatype, "data": data})
    return httpx.post(f"{url}/v2/models/{model}/infer", json=body, timeout=30)


def _output(response: httpx.Response, name: str | None = None) -> np.ndarray:
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    out = outputs[0] if name is None else next(o for o in outputs if o["name"] == name)
    return np.asarray(out["data"]).reshape(out["shape"])


def test_sequence_feeds_each_step_the_previous_outputs(world: dict[str, Any], server: str) -> None:
    m, X = world["models"], world["X"][:40]
    got = _output(_infer(server, "chain", {"X": X}))
    np.testing.assert_array_equal(got, m["classify"].predict(m["project"].predict(X)))
    asked = {"outputs": [{"name": "predict_proba"}]}  # the caller's outputs go to the last step
    proba = _output(_infer(server, "chain", {"X": X}, **asked), "predict_proba")
    np.testing.assert_allclose(proba, m["classify"].predict_proba(m["project"].predict(X)))


def test_ensemble_mean_averages_the_members_probabilities(world: dict[str, Any], server: str) -> None:
    m, X = world["models"], world["X"][:50]
    got = _output(_infer(server, "avg_proba", {"X": X}), "predict_proba")
    expected = np.mean([m[k].predict_proba(X) for k in ("lr", "tree", "nb")], axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_weighted_mean_of_regressors(world: dict[str, Any], server: str) -> None:
    m, X = world["models"], world["X"][100:140]
    got = _output(_infer(server, "weighted", {"X": X}))
    expected = (2 * m["ridge"].predict(X) + m["dtr"].predict(X) + m["knn"].predict(X)) / 4
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_vote_takes_the_majority_label_per_row(world: dict[str, Any], server: str) -> None:
    m, X = world["models"], world["X"]
    votes = np.column_stack([m[k].predict(X) for k in ("lr", "tree", "nb")])
    assert (votes.min(axis=1) != votes.max(axis=1)).any(), "the members must disagree somewhere"
    got = _output(_infer(server, "majority", {"X": X}))
    np.testing.assert_array_equal(got, (votes.sum(axis=1) >= 2).astype(int))


def test_stacking_feeds_the_final_model_the_members_outputs(world: dict[str, Any], server: str) -> None:
    m, X = world["models"], world["X"][:80]
    members = np.column_stack([m[k].predict(X) for k in ("lr", "tree", "nb")])
    got = _output(_infer(server, "stacked", {"X": X}))
    np.testing.assert_array_equal(got, m["meta"].predict(members))


def _country_inputs(frame: pd.DataFrame, countries: list[str]) -> dict[str, np.ndarray]:
    inputs = {c: frame[c].to_numpy() for c in frame.columns}
    inputs["country"] = np.asarray(countries, dtype=object)
    return inputs


def test_switch_routes_rows_by_an_input_and_keeps_their_order(world: dict[str, Any], server: str) -> None:
    m, frame = world["models"], world["frame"][:60]
    countries = ["DE" if i % 3 == 0 else "FR" for i in range(len(frame))]
    got = _output(_infer(server, "by_country", _country_inputs(frame, countries)))
    is_de = np.asarray(countries) == "DE"
    expected = np.where(is_de, m["de"].predict(frame), m["other"].predict(frame))
    assert not np.array_equal(m["de"].predict(frame), m["other"].predict(frame)), "branches must differ"
    np.testing.assert_array_equal(got, expected)


def test_switch_on_a_request_parameter(world: dict[str, Any], server: str) -> None:
    m, frame = world["models"], world["frame"][:30]
    inputs = _country_inputs(frame, ["FR"] * len(frame))
    got = _output(_infer(server, "by_country", inputs, parameters={"tier": "gold"}))
    np.testing.assert_array_equal(got, m["gold"].predict(frame))
    assert not np.array_equal(m["gold"].predict(frame), m["other"].predict(frame))


def test_switch_without_default_refuses_an_unmatched_row_with_400(world: dict[str, Any], server: str) -> None:
    frame = world["frame"][:3]
    response = _infer(server, "de_only", _country_inputs(frame, ["DE", "US", "DE"]))
    assert response.status_code == 400
    assert "row 1" in response.json()["error"]
    missing = _infer(server, "by_country", {c: frame[c].to_numpy() for c in frame.columns})
    assert missing.status_code == 400 and "country" in missing.json()["error"]


def test_graph_metadata_and_readiness(server: str) -> None:
    meta = httpx.get(f"{server}/v2/models/stacked").json()
    assert meta["name"] == "stacked" and meta["platform"] == "treadle_graph_ensemble"
    assert httpx.get(f"{server}/v2/models/chain/ready").status_code == 200


def test_unknown_names_and_cycles_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="nope"):
        graph_endpoints([{"name": "g", "kind": "sequence", "steps": ["nope"]}], {})
    cyclic = [
        {"name": "a", "kind": "sequence", "steps": ["b"]},
        {"name": "b", "kind": "ensemble", "members": ["a"]},
    ]
    with pytest.raises(InvalidArgument, match="calls itself"):
        graph_endpoints(cyclic, {})
    with pytest.raises(InvalidArgument, match="stacking needs final"):
        graph_endpoints([{"name": "s", "kind": "ensemble", "members": ["x"], "combine": "stacking"}], {})


def test_a_graph_can_call_a_graph_declared_after_it(world: dict[str, Any], server: str) -> None:
    m, X = world["models"], world["X"][:60]
    got = _output(_infer(server, "nested", {"X": X}))
    chain = m["classify"].predict(m["project"].predict(X))
    np.testing.assert_allclose(got, (chain + m["lr"].predict(X)) / 2)


def test_python_specs_equal_yaml_specs() -> None:
    from_yaml = yaml.safe_load(SERVING_FILE)["graphs"]
    built = GraphSpec(name="majority", kind="ensemble", members=["lr", "tree", "nb"], combine="vote")
    assert GraphSpec.model_validate(from_yaml[3]) == built


def test_a_serving_file_with_models_and_graphs(world: dict[str, Any], tmp_path: Path) -> None:
    """What ``treadle serve FILE.yaml`` runs: the file's models, then its graphs over them."""
    from treadle.serving import serving_app

    m, X = world["models"], world["X"][:25]
    doc = {
        "models": [
            {"name": n, "uri": str(world["root"] / n), "replicas": {"min_replicas": 0}} for n in ("lr", "tree", "nb")
        ],
        "graphs": [{"name": "trio", "kind": "ensemble", "members": ["lr", "tree", "nb"], "combine": "vote"}],
    }
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump(doc))
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    with serve(serving_app(str(path), client=client)) as url:
        got = _output(_infer(url, "trio", {"X": X}))
        assert httpx.get(f"{url}/v2/models/lr/ready").status_code == 200
    votes = np.column_stack([m[k].predict(X) for k in ("lr", "tree", "nb")])
    np.testing.assert_array_equal(got, (votes.sum(axis=1) >= 2).astype(int))
