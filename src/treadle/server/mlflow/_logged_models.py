"""MLflow 3 logged models (``/api/2.0/mlflow/logged-models/...``) over treadle's own objects.

A logged model made in a run is stored the way ``td.log_model`` stores one: its files are the
run's artifacts under the model's name (``runs:/<run>/<name>``), so the treadle UI, SDK and
registry see an ordinary run model. Its MLflow metadata (id ``m-<hex>``, status, tags, params,
model type, and the latest point of each metric logged with its ``model_id``, per dataset) lives
on its lineage node (``logged_model:<id>``, type ``mlflow.LoggedModel``), joined to the run by an
``output`` edge: no second store and no new table.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from treadle.artifacts import check_uploaded, clean_path, record_files
from treadle.client._backend import Backend
from treadle.errors import NotFound
from treadle.lineage import Node
from treadle.server.mlflow import _model_search as model_search
from treadle.server.mlflow._artifacts import Location, add_resolver
from treadle.server.mlflow._tracking import LOGGED_MODEL, artifact_root, experiment_id, metric_json
from treadle.server.mlflow._wire import (
    Fields,
    MlflowError,
    integer,
    key_values,
    listed,
    required,
    route,
    tag_list,
    text,
)
from treadle.store import Store, now_ms
from treadle.tracking import ArtifactIn, Metric, run_manifest

NODE_TYPE = LOGGED_MODEL
_ID = re.compile(r"^m-[0-9a-f]{32}$")
_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


def external_id(model_id: str) -> str:
    return f"logged_model:{model_id}"


def run_artifact_uri(backend: Backend, run_id: str) -> str:
    """Where the mlflow client reads and writes a run's artifacts (the tracking API's scheme)."""
    run = backend.tracking.get_run(run_id)
    return f"{artifact_root(run.experiment_id)}/{run_id}/artifacts"


def own_manifest(model_id: str) -> str:
    """The manifest of a logged model made outside any run."""
    return f"logged_model/{model_id}"


@add_resolver
def _model_files(backend: Backend, parts: list[str]) -> Location | None:
    # <experiment>/models/<model id>/artifacts[/<path>]: a logged model made outside any run
    if len(parts) < 4 or parts[1] != "models" or parts[3] != "artifacts":
        return None
    props = get_props(backend, parts[2])
    model_id = props["model_id"]
    if props.get("source_run_id"):
        run_id = props["source_run_id"]
        prefix = props["artifact_path"]
        return Location(
            run_manifest(run_id),
            "/".join([prefix, *parts[4:]]),
            lambda files: backend.tracking.add_artifacts(run_id, files),
        )
    return Location(own_manifest(model_id), "/".join(parts[4:]), lambda files: _record(backend, model_id, files))


def _record(backend: Backend, model_id: str, files: list[ArtifactIn]) -> None:
    store = _store(backend)
    entries = [(clean_path(f.path), f.digest, f.size) for f in files]
    with store.write() as conn:
        check_uploaded(conn, backend.blobs, entries)
        record_files(conn, own_manifest(model_id), entries)


def get_props(backend: Backend, model_id: str) -> dict[str, Any]:
    """A logged model's properties (RESOURCE_DOES_NOT_EXIST if unknown)."""
    if not _ID.match(model_id or ""):
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    try:
        node = backend.lineage.find_node(external_id(model_id))
    except NotFound:
        raise NotFound(f"Logged model with ID '{model_id}' not found.") from None
    if node.type != NODE_TYPE:
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return dict(node.properties)


def treadle_uri(props: dict[str, Any]) -> str | None:
    """The treadle ``runs:/`` URI holding a logged model's files (None for a model with no run)."""
    if props.get("source_run_id"):
        return f"runs:/{props['source_run_id']}/{props['artifact_path']}"
    return None


def _save(backend: Backend, props: dict[str, Any]) -> Node:
    props["last_updated_timestamp_ms"] = now_ms()
    node = backend.lineage.put_node(
        "artifact",
        NODE_TYPE,
        props["name"],
        external_id=external_id(props["model_id"]),
        uri=treadle_uri(props) or f"models:/{props['model_id']}",
        properties=props,
    )
    return node


def as_json(backend: Backend, props: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": props["model_id"],
        "experiment_id": str(props["experiment_id"]),
        "name": props["name"],
        "creation_timestamp_ms": props["creation_timestamp_ms"],
        "last_updated_timestamp_ms": props["last_updated_timestamp_ms"],
        "artifact_uri": props["artifact_uri"],
        "status": props["status"],
        "tags": tag_list(props.get("tags") or {}),
        "registrations": props.get("registrations") or [],
    }
    for key in ("model_type", "source_run_id", "status_message"):
        if props.get(key):
            info[key] = props[key]
    return {
        "info": info,
        "data": {"params": tag_list(props.get("params") or {}), "metrics": props.get("metrics") or []},
    }


def add_metrics(backend: Backend, model_id: str, run_id: str, metrics: list[tuple[dict[str, Any], Metric]]) -> None:
    """Record metrics logged with ``model_id`` on the logged model: the latest point per key and dataset."""
    props = get_props(backend, model_id)
    kept = {(m["key"], m.get("dataset_name"), m.get("dataset_digest")): m for m in props.get("metrics") or []}
    for item, metric in metrics:
        entry = metric_json(metric.key, metric.value, metric.step, metric.timestamp) | {
            "model_id": model_id,
            "run_id": run_id,
        }
        for name in ("dataset_name", "dataset_digest"):
            if item.get(name):
                entry[name] = str(item[name])
        slot = (entry["key"], entry.get("dataset_name"), entry.get("dataset_digest"))
        old = kept.get(slot)
        if old is None or (metric.step, metric.timestamp) >= (int(old["step"]), int(old["timestamp"])):
            kept[slot] = entry
    props["metrics"] = sorted(kept.values(), key=lambda m: (m["key"], m.get("dataset_name") or ""))
    _save(backend, props)


# ------------------------------------------------------------------ routes
@route("POST", "logged-models")
def create_logged_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    exp_id = experiment_id(backend, required(fields, "experiment_id"))
    run_id = text(fields, "source_run_id") or None
    model_id = f"m-{uuid.uuid4().hex}"
    name = text(fields, "name") or f"model-{model_id[2:10]}"
    if run_id is not None:
        run = backend.tracking.get_run(run_id)  # RESOURCE_DOES_NOT_EXIST for an unknown run
        if str(run.experiment_id) != exp_id:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"run {run_id} is not in experiment {exp_id}")
        path = clean_path(name)
        taken = {p.get("artifact_path") for p in _search(backend, [exp_id]) if p.get("source_run_id") == run_id}
        if path in taken:  # a second model of the same name in one run gets its own folder
            path = f"{path}-{model_id[2:10]}"
        artifact_uri = f"{run_artifact_uri(backend, run_id)}/{path}"
    else:
        backend.tracking.get_experiment(exp_id)
        path = ""
        artifact_uri = f"{artifact_root(exp_id)}/models/{model_id}/artifacts"
    now = now_ms()
    props: dict[str, Any] = {
        "model_id": model_id,
        "experiment_id": exp_id,
        "name": name,
        "source_run_id": run_id,
        "artifact_path": path,
        "artifact_uri": artifact_uri,
        "model_type": text(fields, "model_type"),
        "status": "LOGGED_MODEL_PENDING",
        "status_message": None,
        "tags": key_values(fields.get("tags"), "tags"),
        "params": key_values(fields.get("params"), "params"),
        "creation_timestamp_ms": now,
        "last_updated_timestamp_ms": now,
        "registrations": [],
    }
    node = _save(backend, props)
    if run_id is not None:
        run_node = backend.lineage.find_node(f"run:{run_id}")
        backend.lineage.add_edge("output", run_node.id, node.id, path=f"runs:/{run_id}/{path}")
    return {"model": as_json(backend, props)}


@route("GET", "logged-models/{model_id}")
def get_logged_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    model_id = str(required(fields, "model_id"))
    props = get_props(backend, model_id)
    if props.get("deleted") and (text(fields, "allow_deleted") or "").lower() != "true":
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return {"model": as_json(backend, props)}


@route("PATCH", "logged-models/{model_id}")
def finalize_logged_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    props = get_props(backend, str(required(fields, "model_id")))
    status = text(fields, "status") or ""
    if status.isdigit():
        status = _STATUSES[int(status) - 1] if 1 <= int(status) <= 3 else status
    if status not in _STATUSES:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"status must be one of {', '.join(_STATUSES)}, not {status!r}")
    props["status"] = status
    _save(backend, props)
    return {"model": as_json(backend, props)}


@route("DELETE", "logged-models/{model_id}")
def delete_logged_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    props = get_props(backend, str(required(fields, "model_id")))
    props["deleted"] = True  # hidden from gets and searches; its files stay (a registered version may use them)
    _save(backend, props)
    return {}


@route("PATCH", "logged-models/{model_id}/tags")
def set_logged_model_tags(backend: Backend, fields: Fields) -> dict[str, Any]:
    props = get_props(backend, str(required(fields, "model_id")))
    props["tags"] = {**(props.get("tags") or {}), **key_values(fields.get("tags"), "tags")}
    _save(backend, props)
    return {}


@route("DELETE", "logged-models/{model_id}/tags/{tag_key}")
def delete_logged_model_tag(backend: Backend, fields: Fields) -> dict[str, Any]:
    props = get_props(backend, str(required(fields, "model_id")))
    key = str(required(fields, "tag_key"))
    tags = dict(props.get("tags") or {})
    if key not in tags:
        raise NotFound(f"No tag with key {key!r} found for logged model {props['model_id']}")
    del tags[key]
    props["tags"] = tags
    _save(backend, props)
    return {}


@route("POST", "logged-models/{model_id}/params")
def log_logged_model_params(backend: Backend, fields: Fields) -> dict[str, Any]:
    props = get_props(backend, str(required(fields, "model_id")))
    props["params"] = {**(props.get("params") or {}), **key_values(fields.get("params"), "params")}
    _save(backend, props)
    return {}


@route("POST", "logged-models/search")
def search_logged_models(backend: Backend, fields: Fields) -> dict[str, Any]:
    experiments = [experiment_id(backend, e) for e in listed(fields, "experiment_ids")]
    clauses = model_search.parse_filter(text(fields, "filter"))
    datasets = [d for d in listed(fields, "datasets") if isinstance(d, dict)]
    limit = integer(fields, "max_results", 100) or 100
    offset = _offset(text(fields, "page_token"))
    found = [p for p in _search(backend, experiments) if model_search.matches(p, clauses, datasets)]
    found = model_search.sort(found, listed(fields, "order_by"))
    page = found[offset : offset + limit]
    answer: dict[str, Any] = {"models": [as_json(backend, p) for p in page]}
    if offset + limit < len(found):
        answer["next_page_token"] = str(offset + limit)
    return answer


@route("POST", "runs/outputs")
def log_outputs(backend: Backend, fields: Fields) -> dict[str, Any]:
    """The run made these logged models: recorded as lineage output edges (idempotent)."""
    run_id = str(required(fields, "run_id"))
    run_node = backend.lineage.find_node(f"run:{run_id}") if _run_exists(backend, run_id) else None
    for item in listed(fields, "models"):
        model_id = str(item.get("model_id", "")) if isinstance(item, dict) else ""
        props = get_props(backend, model_id)
        node = backend.lineage.find_node(external_id(model_id))
        if run_node is not None:
            backend.lineage.add_edge("output", run_node.id, node.id, path=treadle_uri(props))
    return {}


def _run_exists(backend: Backend, run_id: str) -> bool:
    backend.tracking.get_run(run_id)  # RESOURCE_DOES_NOT_EXIST for an unknown run
    return True


def _offset(token: str | None) -> int:
    if not token:
        return 0
    if not token.isdigit():
        raise MlflowError("INVALID_PARAMETER_VALUE", f"invalid page token {token!r}")
    return int(token)


def _store(backend: Backend) -> Store:
    if backend.store is None:  # pragma: no cover - the server always has a local store
        raise MlflowError("INTERNAL_ERROR", "the server has no local store", 500)
    return backend.store


def _search(backend: Backend, experiment_ids: list[str]) -> list[dict[str, Any]]:
    props: list[dict[str, Any]] = []
    after = 0
    while page := backend.lineage.list_nodes(NODE_TYPE, after_id=after):
        props.extend(dict(n.properties) for n in page)
        after = page[-1].id
    return [
        p
        for p in props
        if not p.get("deleted") and (not experiment_ids or str(p.get("experiment_id")) in experiment_ids)
    ]


def add_registration(backend: Backend, model_id: str, name: str, version: int) -> None:
    """Note on the logged model that it was registered as ``name`` v``version``."""
    props = get_props(backend, model_id)
    props["registrations"] = [*(props.get("registrations") or []), {"name": name, "version": str(version)}]
    _save(backend, props)
