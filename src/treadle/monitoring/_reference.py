"""A monitor's reference: the data it compares served traffic with, and the model's answers on it.

When no reference is given it is found through lineage — the deployment's control model (or the
monitor's ``model``) -> its registry version (aliases resolved) -> the run that produced it -> the
dataset version(s) that run read (``td.log_input``, or a pipeline step's inputs) -> the frame.
Given references: a DataFrame, ``"name@version"`` / ``"name@alias"`` / ``datasets:/name/N``, a
:class:`~treadle.datasets.DatasetVersion` or a dataset handle.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from treadle.errors import InvalidArgument, NotFound
from treadle.rollout import parse_model_uri

log = logging.getLogger(__name__)
_RUNS = re.compile(r"^runs:/(?P<run>[^/]+)/")
_DATASET_URI = re.compile(r"^datasets:/(?P<name>[^/@]+)/(?P<version>\d+)/?$")


@dataclass
class Reference:
    frame: pd.DataFrame
    dataset: str | None = None
    version: int | None = None
    found_by: Literal["given", "lineage"] = "given"


@dataclass
class Answers:
    """The model's predictions (and class probabilities) on the reference features."""

    prediction: np.ndarray
    proba: np.ndarray | None = None
    classes: list[Any] | None = None


def deployment_model(client: Any, deployment: str) -> str | None:
    """The model URI a deployment's control variant serves (None when the deployment is unknown)."""
    try:
        dep = client.rollout.get_deployment(deployment)
    except NotFound:
        return None
    control = dep.spec.control.model
    if parse_model_uri(control) is None and not control.startswith("runs:/") and dep.spec.model:
        return f"models:/{dep.spec.model}@{dep.spec.alias}"
    return str(control)


def model_version(client: Any, model_uri: str | None) -> str | None:
    """The version ``model_uri`` names now, as ``models:/<name>/<version>`` (an alias resolved; a
    ``runs:/`` URI names itself); None without a model. NotFound for an unknown model or alias."""
    if model_uri is None:
        return None
    if parse_model_uri(model_uri) is None:
        return model_uri if _RUNS.match(model_uri) else None
    version = client.get_model_version_by_uri(model_uri)
    return f"models:/{version.name}/{version.version}"


def producing_run(client: Any, model_uri: str) -> str | None:
    """The run that logged the model at ``model_uri`` (a registry URI or ``runs:/``), or None."""
    runs = _RUNS.match(model_uri)
    if runs is not None:
        return runs["run"]
    if parse_model_uri(model_uri) is None:
        return None
    version = client.get_model_version_by_uri(model_uri)
    return str(version.run_id) if version.run_id else None


def training_datasets(client: Any, run_id: str) -> list[tuple[str, int]]:
    """Dataset versions upstream of the run in the lineage graph, nearest first."""
    try:
        node = client.lineage.find_node(f"run:{run_id}")
    except NotFound:
        return []
    found: list[tuple[str, int]] = []
    for hops in (1, 3, 5, 7):  # what the run read itself, then what its inputs (pipeline steps) were made from
        graph = client.lineage.upstream(node.id, hops=hops)
        for n in sorted(graph.nodes, key=lambda n: n.id):
            match = _DATASET_URI.match(n.uri or n.external_id or "")
            key = (match["name"], int(match["version"])) if match else None
            if key is not None and key not in found:
                found.append(key)
        if found:
            break
    return found


def _load_dataset(client: Any, name: str, version: int | str | None) -> Reference:
    from treadle import datasets

    handle = datasets.get(name, version, client=client)
    return Reference(handle.to_pandas(), handle.version.name, handle.version.version)


def given_reference(client: Any, reference: Any) -> Reference:
    """A reference the caller named (see the module docstring)."""
    if isinstance(reference, pd.DataFrame):
        return Reference(reference)
    if isinstance(reference, str):
        match = _DATASET_URI.match(reference)
        if match is not None:
            return _load_dataset(client, match["name"], int(match["version"]))
        name, _, version = reference.partition("@")
        if not name:
            raise InvalidArgument(f"reference {reference!r}: use 'dataset@version', 'dataset@alias' or a DataFrame")
        return _load_dataset(client, name, int(version) if version.isdigit() else (version or None))
    inner = getattr(reference, "version", None)
    record = reference if inner is None or isinstance(inner, int) else inner  # a DatasetHandle holds one
    ds_name, ds_version = getattr(record, "name", None), getattr(record, "version", None)
    if isinstance(ds_name, str) and isinstance(ds_version, int):
        return _load_dataset(client, ds_name, ds_version)
    raise InvalidArgument(
        f"reference must be a DataFrame, 'dataset@version', 'dataset@alias' or a DatasetVersion, "
        f"not {type(reference).__name__}"
    )


def lineage_reference(client: Any, model_uri: str | None, needed: list[str]) -> Reference:
    """The training data of ``model_uri`` through lineage: the first dataset version the producing
    run read that has every ``needed`` column (features and target)."""
    hint = "pass reference=<DataFrame or 'dataset@version'>"
    if model_uri is None:
        raise NotFound(f"no model to find the reference through lineage (no deployment, no model=): {hint}")
    try:
        run_id = producing_run(client, model_uri)
    except NotFound as exc:
        raise NotFound(f"model {model_uri!r}: {exc.message}; {hint}") from None
    if run_id is None:
        raise NotFound(f"model {model_uri!r} has no producing run in lineage, so no training dataset: {hint}")
    candidates = training_datasets(client, run_id)
    if not candidates:
        raise NotFound(
            f"run {run_id} (which produced {model_uri!r}) recorded no dataset version it read "
            f"(td.log_input(td.datasets.get(...)) records one): {hint}"
        )
    for name, version in candidates:
        ref = _load_dataset(client, name, version)
        if all(c in ref.frame.columns for c in needed):
            ref.found_by = "lineage"
            return ref
    names = ", ".join(f"{n}@{v}" for n, v in candidates)
    raise NotFound(f"no dataset version read by run {run_id} ({names}) has the columns {needed}: {hint}")


def signature_columns(predictor: Any) -> list[str] | None:
    """The model's input columns in signature order (None for tensor signatures)."""
    sig = getattr(predictor, "signature", None)
    if sig is None or sig.inputs.kind != "columns":
        return None
    return [str(n) for n in sig.inputs.names]


def load_predictor(client: Any, model_uri: str | None) -> Any:
    """The loaded model, or None (logged) when it cannot be loaded: monitoring goes on without
    prediction drift rather than failing."""
    if model_uri is None:
        return None
    try:
        return client.load_model(model_uri)
    except Exception as exc:  # a missing file, a flavor not installed, the model's own code
        log.warning("monitoring: cannot load model %s (%s); no reference predictions", model_uri, exc)
        return None


def _as_vector(result: Any) -> np.ndarray:
    if isinstance(result, pd.DataFrame):
        result = result.iloc[:, 0]
    if isinstance(result, dict):
        result = result.get("predict", next(iter(result.values())))
    arr = np.asarray(result)
    return arr[:, 0] if arr.ndim == 2 and arr.shape[1] == 1 else arr.reshape(len(arr), -1)[:, 0]


def answers(predictor: Any, features: pd.DataFrame, want_proba: bool) -> Answers | None:
    """The model's answers on the reference features; None (logged) when it cannot predict them."""
    try:
        prediction = _as_vector(predictor.predict(features))
        proba = None
        if want_proba and predictor.has_proba:
            proba = np.asarray(predictor.predict_proba(features), dtype=float)
    except Exception as exc:  # the model's own code: monitoring must go on without predictions
        log.warning("monitoring: the model cannot predict the reference (%s: %s)", type(exc).__name__, exc)
        return None
    classes = getattr(getattr(predictor, "native", None), "classes_", None)
    return Answers(prediction, proba, [_plain(c) for c in classes] if classes is not None else None)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
