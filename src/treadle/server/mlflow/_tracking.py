"""MLflow's tracking endpoints (experiments, runs, metrics, params, tags, search) over treadle's TrackingService.

Ids: MLflow experiment ids are treadle's (strings of digits; MLflow's default experiment "0" is
treadle's experiment named ``Default``, created on first use); run ids are treadle's 32-hex ids.
The system tags ``mlflow.runName`` and ``mlflow.parentRunId`` are kept as tags and also set the run's
name and parent; ``mlflow.user`` is the run's ``user_id``. ``runs/get`` answers each metric's latest
point with its real step and timestamp, the datasets the run read and the logged models it made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from treadle.client._backend import Backend
from treadle.errors import AlreadyExists, NotFound
from treadle.lineage import Node
from treadle.server.mlflow._wire import (
    ROUTES,
    Fields,
    MlflowError,
    double,
    integer,
    key_values,
    listed,
    number,
    required,
    route,
    tag_list,
    text,
)
from treadle.tracking import Experiment, InputRef, LatestMetric, Metric, Run

DEFAULT_EXPERIMENT = "Default"
LOGGED_MODEL = "mlflow.LoggedModel"  # the lineage node type of an MLflow 3 logged model
RUN_NAME, PARENT, USER = "mlflow.runName", "mlflow.parentRunId", "mlflow.user"
MAX_SEARCH = 50_000
_VIEWS = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all", "1": "active", "2": "deleted", "3": "all"}
_STATUSES = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}


# ------------------------------------------------------------------ ids and records
def experiment_id(backend: Backend, value: Any) -> str:
    """A treadle experiment id for an MLflow one ("0" is the default experiment)."""
    eid = str(value)
    if eid != "0":
        if not eid.isdigit() or len(eid) > 18:  # not an id treadle could have given (nor fit in an int64)
            raise NotFound(f"Could not find experiment with ID {eid}")
        return eid
    try:
        return backend.tracking.get_experiment_by_name(DEFAULT_EXPERIMENT).id
    except NotFound:
        try:
            return backend.tracking.create_experiment(DEFAULT_EXPERIMENT).id
        except AlreadyExists:  # created meanwhile by another request
            return backend.tracking.get_experiment_by_name(DEFAULT_EXPERIMENT).id


def artifact_root(exp_id: str) -> str:
    return f"mlflow-artifacts:/{exp_id}"


def experiment_json(e: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": e.id,
        "name": e.name,
        "artifact_location": artifact_root(e.id),
        "lifecycle_stage": e.lifecycle,
        "creation_time": e.created_at,
        "last_update_time": e.updated_at,
        "tags": tag_list({**e.tags, **({"mlflow.note.content": e.description} if e.description else {})}),
    }


def run_json(r: Run, points: Sequence[LatestMetric] | None = None) -> dict[str, Any]:
    """A run as MLflow's ``Run`` message; ``points`` are its metrics' latest points (without them,
    each metric shows step 0 and the run's end or start time)."""
    if points is None:
        default = r.end_time or r.start_time
        points = [LatestMetric(k, v, 0, default) for k, v in r.metrics.items()]
    tags = {**r.tags, RUN_NAME: r.name}
    if r.parent_id:
        tags[PARENT] = r.parent_id
    info: dict[str, Any] = {
        "run_id": r.id,
        "run_uuid": r.id,
        "run_name": r.name,
        "experiment_id": r.experiment_id,
        "user_id": r.tags.get(USER, ""),
        "status": r.status,
        "start_time": r.start_time,
        "artifact_uri": f"{artifact_root(r.experiment_id)}/{r.id}/artifacts",
        "lifecycle_stage": r.lifecycle,
    }
    if r.end_time is not None:
        info["end_time"] = r.end_time
    data = {
        # treadle keeps the latest point per key; MLflow's run data shows that point
        "metrics": [metric_json(k, v, step, ts) for k, v, step, ts in points],
        "params": tag_list(r.params),
        "tags": tag_list(tags),
    }
    return {"info": info, "data": data, "inputs": {}}


def metric_json(key: str, value: float, step: int, timestamp: int) -> dict[str, Any]:
    return {"key": key, "value": double(value), "timestamp": timestamp, "step": step}


def _run_id(fields: Fields) -> str:
    value = fields.get("run_id") or fields.get("run_uuid")
    if not value:
        raise MlflowError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'.")
    return str(value)


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    if value not in _STATUSES:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"unknown run status {value!r}")
    return value


def _view(fields: Fields, name: str) -> str:
    raw = text(fields, name) or "ACTIVE_ONLY"
    if raw not in _VIEWS:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"unknown {name} {raw!r}")
    return _VIEWS[raw]


# ------------------------------------------------------------------ experiments
@route("POST", "experiments/create")
def create_experiment(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "name"))
    tags = key_values(fields.get("tags"), "tags")
    description = tags.pop("mlflow.note.content", None)
    exp = backend.tracking.create_experiment(name, description=description, tags=tags or None)
    return {"experiment_id": exp.id}


@route("GET", "experiments/get")
def get_experiment(backend: Backend, fields: Fields) -> dict[str, Any]:
    eid = experiment_id(backend, required(fields, "experiment_id"))
    return {"experiment": experiment_json(backend.tracking.get_experiment(eid))}


@route("GET", "experiments/get-by-name")
def get_experiment_by_name(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "experiment_name"))
    if name == DEFAULT_EXPERIMENT:
        experiment_id(backend, "0")  # the default experiment always exists, as in MLflow
    try:
        exp = backend.tracking.get_experiment_by_name(name)
    except NotFound:
        raise NotFound(f"Could not find experiment with name '{name}'") from None
    return {"experiment": experiment_json(exp)}


@route("POST", "experiments/search")
@route("GET", "experiments/search")
def search_experiments(backend: Backend, fields: Fields) -> dict[str, Any]:
    exps = backend.tracking.list_experiments(_view(fields, "view_type"))  # type: ignore[arg-type]
    flt = (text(fields, "filter") or "").strip()
    if flt:
        exps = [e for e in exps if _experiment_matches(e, flt)]
    for spec in reversed(listed(fields, "order_by")):
        m = re.fullmatch(r"\s*(?:attributes?\.)?(\w+)(?:\s+(asc|desc))?\s*", str(spec), re.IGNORECASE)
        key = {"name": "name", "experiment_id": "id", "creation_time": "created_at", "last_update_time": "updated_at"}
        if not m or m.group(1) not in key:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid order_by clause '{spec}'")
        attr, desc = key[m.group(1)], (m.group(2) or "asc").lower() == "desc"
        exps.sort(key=lambda e: int(e.id) if attr == "id" else getattr(e, attr), reverse=desc)
    size = integer(fields, "max_results", 1000) or 1000
    offset = integer(fields, "page_token", 0) or 0
    page = exps[offset : offset + size]
    out: dict[str, Any] = {"experiments": [experiment_json(e) for e in page]}
    if offset + size < len(exps):
        out["next_page_token"] = str(offset + size)
    return out


_EXP_FILTER = re.compile(
    r"\s*(?:attributes?\.)?(?P<field>name|tags\.`?[\w.\-/ ]+`?)\s*(?P<op>=|!=|LIKE|ILIKE)\s*'(?P<value>[^']*)'\s*",
    re.IGNORECASE,
)


def _experiment_matches(exp: Experiment, flt: str) -> bool:
    for clause in re.split(r"\s+and\s+", flt, flags=re.IGNORECASE):
        m = _EXP_FILTER.fullmatch(clause)
        if m is None:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid experiment filter clause '{clause.strip()}'")
        field = m.group("field")
        actual = exp.name if field.lower() == "name" else exp.tags.get(field[5:].strip("`"))
        if actual is None or not _compare(actual, m.group("op").upper(), m.group("value")):
            return False
    return True


def _compare(actual: str, op: str, value: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    pattern = "^" + re.escape(value).replace("%", ".*").replace("_", ".") + "$"
    return re.match(pattern, actual, re.IGNORECASE if op == "ILIKE" else 0) is not None


@route("POST", "experiments/update")
def update_experiment(backend: Backend, fields: Fields) -> dict[str, Any]:
    eid = experiment_id(backend, required(fields, "experiment_id"))
    new_name = text(fields, "new_name")
    if new_name:
        backend.tracking.rename_experiment(eid, new_name)
    return {}


@route("POST", "experiments/delete")
def delete_experiment(backend: Backend, fields: Fields) -> dict[str, Any]:
    backend.tracking.delete_experiment(experiment_id(backend, required(fields, "experiment_id")))
    return {}


@route("POST", "experiments/restore")
def restore_experiment(backend: Backend, fields: Fields) -> dict[str, Any]:
    backend.tracking.restore_experiment(experiment_id(backend, required(fields, "experiment_id")))
    return {}


@route("POST", "experiments/set-experiment-tag")
def set_experiment_tag(backend: Backend, fields: Fields) -> dict[str, Any]:
    eid = experiment_id(backend, required(fields, "experiment_id"))
    backend.tracking.set_experiment_tag(eid, str(required(fields, "key")), text(fields, "value") or "")
    return {}


# ------------------------------------------------------------------ runs
@route("POST", "runs/create")
def create_run(backend: Backend, fields: Fields) -> dict[str, Any]:
    eid = experiment_id(backend, fields.get("experiment_id") or "0")
    tags = key_values(fields.get("tags"), "tags")
    user = text(fields, "user_id")
    if user and USER not in tags:
        tags[USER] = user
    name = text(fields, "run_name") or tags.get(RUN_NAME) or None
    parent = tags.get(PARENT) or None
    description = tags.pop("mlflow.note.content", None)
    run = backend.tracking.create_run(
        eid,
        name=name,
        parent_id=parent,
        tags=tags,
        description=description,
        start_time=integer(fields, "start_time"),
    )
    return {"run": run_json(run)}


@route("GET", "runs/get")
def get_run(backend: Backend, fields: Fields) -> dict[str, Any]:
    run = backend.tracking.get_run(_run_id(fields))
    out = run_json(run, backend.tracking.latest_metrics([run.id])[run.id])
    try:
        node: Node | None = backend.lineage.find_node(f"run:{run.id}")
    except NotFound:
        node = None
    out["inputs"] = {"dataset_inputs": dataset_inputs(backend, node)}
    out["outputs"] = {"model_outputs": model_outputs(backend, node)}
    return {"run": out}


def model_outputs(backend: Backend, node: Node | None) -> list[dict[str, Any]]:
    """The MLflow 3 logged models a run made (``runs/outputs``), read back from the lineage graph."""
    if node is None:
        return []
    graph = backend.lineage.downstream(node.id, hops=1)
    return [
        {"model_id": n.properties["model_id"], "step": 0}
        for n in sorted(graph.nodes, key=lambda n: n.id)
        if n.type == LOGGED_MODEL and n.properties.get("model_id") and not n.properties.get("deleted")
    ]


def dataset_inputs(backend: Backend, node: Node | None) -> list[dict[str, Any]]:
    """The datasets ``runs/log-inputs`` recorded for a run, read back from the lineage graph."""
    if node is None:
        return []
    graph = backend.lineage.upstream(node.id, hops=1)
    found = []
    for n in graph.nodes:
        if n.type != "mlflow.Dataset":
            continue
        props = n.properties
        dataset = {"name": n.name, "digest": props.get("digest", ""), "source": n.uri or ""}
        dataset |= {k: props[k] for k in ("source_type", "source", "schema", "profile") if props.get(k) is not None}
        found.append({"tags": tag_list(props.get("tags") or {}), "dataset": dataset})
    return found


@route("POST", "runs/update")
def update_run(backend: Backend, fields: Fields) -> dict[str, Any]:
    run_id = _run_id(fields)
    name = text(fields, "run_name") or None
    run = backend.tracking.update_run(
        run_id,
        status=_status(text(fields, "status")),  # type: ignore[arg-type]
        end_time=integer(fields, "end_time"),
        name=name,
    )
    if name:
        backend.tracking.set_tag(run_id, RUN_NAME, name)
    return {"run_info": run_json(run)["info"]}


@route("POST", "runs/delete")
def delete_run(backend: Backend, fields: Fields) -> dict[str, Any]:
    backend.tracking.delete_run(_run_id(fields))
    return {}


@route("POST", "runs/restore")
def restore_run(backend: Backend, fields: Fields) -> dict[str, Any]:
    backend.tracking.restore_run(_run_id(fields))
    return {}


def _metric(item: Any) -> Metric:
    """A metric of a request (its ``model_id`` and dataset, if any, are read by :func:`_model_metrics`)."""
    if not isinstance(item, dict):
        raise MlflowError("INVALID_PARAMETER_VALUE", "each metric must be an object with key and value")
    key = item.get("key")
    if not key:
        raise MlflowError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'key'.")
    if item.get("value") is None:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Missing value for required parameter 'value' of '{key}'.")
    return Metric(
        key=str(key),
        value=number(item["value"], "value"),
        step=integer(item, "step", 0) or 0,
        timestamp=integer(item, "timestamp", 0) or 0,
    )


@route("POST", "runs/log-metric")
def log_metric(backend: Backend, fields: Fields) -> dict[str, Any]:
    run_id = _run_id(fields)
    backend.tracking.log_batch(run_id, metrics=[_metric(fields)])
    _model_metrics(backend, run_id, [fields])
    return {}


def _model_metrics(backend: Backend, run_id: str, items: list[Any]) -> None:
    """Metrics sent with a ``model_id`` (MLflow 3) are also the logged model's metrics."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if isinstance(item, dict) and item.get("model_id"):
            by_model.setdefault(str(item["model_id"]), []).append(item)
    if not by_model:
        return
    from treadle.server.mlflow._logged_models import add_metrics  # it imports this module

    for model_id, metrics in by_model.items():
        add_metrics(backend, model_id, run_id, [(m, _metric(m)) for m in metrics])


@route("POST", "runs/log-parameter")
def log_param(backend: Backend, fields: Fields) -> dict[str, Any]:
    key = str(required(fields, "key"))
    backend.tracking.log_batch(_run_id(fields), params={key: text(fields, "value") or ""})
    return {}


def _set_tags(backend: Backend, run_id: str, tags: dict[str, str]) -> None:
    if tags:
        backend.tracking.log_batch(run_id, tags=tags)
    if tags.get(RUN_NAME):
        backend.tracking.update_run(run_id, name=tags[RUN_NAME])


@route("POST", "runs/set-tag")
def set_tag(backend: Backend, fields: Fields) -> dict[str, Any]:
    key = str(required(fields, "key"))
    _set_tags(backend, _run_id(fields), {key: text(fields, "value") or ""})
    return {}


@route("POST", "runs/delete-tag")
def delete_tag(backend: Backend, fields: Fields) -> dict[str, Any]:
    backend.tracking.delete_tag(_run_id(fields), str(required(fields, "key")))
    return {}


@route("POST", "runs/log-batch")
def log_batch(backend: Backend, fields: Fields) -> dict[str, Any]:
    run_id = _run_id(fields)
    metrics = [_metric(m) for m in listed(fields, "metrics")]
    params = key_values(fields.get("params"), "params")
    tags = key_values(fields.get("tags"), "tags")
    if metrics or params or tags:  # one transaction: a conflicting param writes nothing
        backend.tracking.log_batch(run_id, metrics=metrics, params=params or None, tags=tags or None)
        if tags.get(RUN_NAME):
            backend.tracking.update_run(run_id, name=tags[RUN_NAME])
        _model_metrics(backend, run_id, listed(fields, "metrics"))
    else:
        backend.tracking.get_run(run_id)  # RESOURCE_DOES_NOT_EXIST for an unknown run, as MLflow
    return {}


@route("POST", "runs/log-inputs")
def log_inputs(backend: Backend, fields: Fields) -> dict[str, Any]:
    refs = []
    for item in listed(fields, "datasets"):
        ds = (item or {}).get("dataset") or {}
        name = ds.get("name") or None
        source = str(ds.get("source") or "")
        refs.append(
            InputRef(
                uri=_source_uri(source) or f"mlflow-dataset:{name or ds.get('digest') or 'unnamed'}",
                name=name,
                digest=ds.get("digest") or None,
                type="mlflow.Dataset",
                properties={k: ds[k] for k in ("source_type", "source", "schema", "profile") if ds.get(k) is not None}
                | {"tags": key_values(item.get("tags"), "tags")},
            )
        )
    run_id = _run_id(fields)
    if refs:
        backend.tracking.log_inputs(run_id, refs)
    else:
        backend.tracking.get_run(run_id)
    return {}


def _source_uri(source: str) -> str:
    """The location in an MLflow dataset source: a JSON object (``{"uri": ...}``) or a plain URI."""
    if source.startswith("{"):
        try:
            parsed = json.loads(source)
        except ValueError:
            return source
        if isinstance(parsed, dict):
            for key in ("uri", "url", "path", "table_name"):
                if parsed.get(key):
                    return str(parsed[key])
    return source


@route("GET", "metrics/get-history")
def get_metric_history(backend: Backend, fields: Fields) -> dict[str, Any]:
    run_id, key = _run_id(fields), str(required(fields, "metric_key"))
    series = backend.tracking.get_metric_history(run_id, key)
    points = [
        {"key": key, "value": double(v), "timestamp": ts, "step": step}
        for step, ts, v in zip(series.steps, series.timestamps, series.values, strict=True)
    ]
    size = integer(fields, "max_results")
    offset = integer(fields, "page_token", 0) or 0
    out: dict[str, Any] = {}
    if size:
        out["metrics"] = points[offset : offset + size]
        if offset + size < len(points):
            out["next_page_token"] = str(offset + size)
    else:
        out["metrics"] = points[offset:]
    return out


# ------------------------------------------------------------------ search
_RUN_NAME_TAG = re.compile(r"\btags\.(`|\"|)mlflow\.runName\1", re.IGNORECASE)
_USER_ID = re.compile(r"\b(?:attributes?|attr|run)\.user_id\b", re.IGNORECASE)


def translate_filter(flt: str | None) -> str | None:
    """MLflow's run filter in treadle's language (they are close: only a few names differ)."""
    if not flt or not flt.strip():
        return None
    flt = _USER_ID.sub("tags.`mlflow.user`", _RUN_NAME_TAG.sub("attributes.run_name", flt))
    if re.search(r"\bdatasets\.", flt, re.IGNORECASE):
        raise MlflowError("INVALID_PARAMETER_VALUE", "filtering runs by datasets.* is not supported by treadle")
    return flt


def translate_order(spec: str) -> str:
    return _USER_ID.sub("tags.`mlflow.user`", _RUN_NAME_TAG.sub("attributes.run_name", spec))


@route("POST", "runs/search")
def search_runs(backend: Backend, fields: Fields) -> dict[str, Any]:
    ids = [experiment_id(backend, e) for e in listed(fields, "experiment_ids")]
    size = integer(fields, "max_results", 1000) or 1000
    if not 1 <= size <= MAX_SEARCH:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid value {size} for parameter 'max_results'")
    page = backend.tracking.search_runs(
        experiment_ids=ids or None,
        filter=translate_filter(text(fields, "filter")),
        order_by=[translate_order(str(o)) for o in listed(fields, "order_by")] or None,
        max_results=size,
        page_token=text(fields, "page_token") or None,
        view=_view(fields, "run_view_type"),  # type: ignore[arg-type]
        with_points=True,  # each metric's real step and timestamp, read with the page
    )
    points = page.points or {}
    out: dict[str, Any] = {"runs": [run_json(r, points.get(r.id, [])) for r in page.runs]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


# ------------------------------------------------------------------ logged models (fallback)
def search_logged_models(backend: Backend, fields: Fields) -> dict[str, Any]:
    """No logged models: the client asks while resolving ``runs:/`` artifact paths. Only a
    fallback: the logged-models module's route wins whichever registers first."""
    del backend, fields
    return {"models": []}


ROUTES.setdefault(("POST", "2.0", "logged-models/search"), search_logged_models)
