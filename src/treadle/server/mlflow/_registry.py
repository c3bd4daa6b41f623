"""MLflow's model registry (``/api/2.0/mlflow/registered-models/*``, ``model-versions/*``) over treadle's registry.

A model the mlflow client registers is a treadle registered model and version (same registry, same
UI, same aliases and history). Sources map onto treadle's:

- ``runs:/<run>/<path>`` and the run's artifact URI (``mlflow-artifacts:/<exp>/<run>/artifacts/<path>``)
  register the run's files (``runs:/<run>/<path>``, no bytes copied);
- ``models:/m-<id>`` (an MLflow 3 logged model) registers that model's files;
- ``models:/<name>/<version>`` registers the files of another registered version.

Version numbers are strings on the wire; stages are gone in MLflow 3 (``current_stage`` is "None").
The logged model a version came from is kept in the version tag ``mlflow.modelId`` (not listed).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from treadle.client._backend import Backend
from treadle.errors import AlreadyExists, InvalidArgument, NotFound
from treadle.registry import ModelVersion, RegisteredModel
from treadle.server.mlflow import _logged_models as lm
from treadle.server.mlflow._artifacts import Location, add_resolver
from treadle.server.mlflow._tracking import artifact_root
from treadle.server.mlflow._wire import (
    Fields,
    MlflowError,
    integer,
    key_values,
    required,
    route,
    tag_list,
    text,
)
from treadle.tracking import ArtifactIn

MODEL_ID_TAG = "mlflow.modelId"
_HIDDEN_TAGS = (MODEL_ID_TAG,)
_RUN_ARTIFACTS = re.compile(r"^mlflow-artifacts:/+[^/]+/(?P<run>[0-9a-f]{32})/artifacts(?:/(?P<path>.*))?$")
_RUNS = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})(?:/(?P<path>.*))?$")
_LOGGED = re.compile(r"^models:/(?P<id>m-[0-9a-f]{32})/?$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)/?$")
MAX_MODELS, MAX_VERSIONS = 1000, 200_000  # MLflow's own limits (its client asks for 10,000 versions)


# ------------------------------------------------------------------ records
def version_json(v: ModelVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": v.created_at,
        "last_updated_timestamp": v.updated_at,
        "current_stage": "None",
        "source": v.source,
        "status": {"READY": "READY", "PENDING": "PENDING_REGISTRATION"}.get(v.status, "FAILED_REGISTRATION"),
        "tags": tag_list({k: val for k, val in v.tags.items() if k not in _HIDDEN_TAGS}),
        "aliases": list(v.aliases),
    }
    for key, value in (
        ("user_id", v.created_by),
        ("description", v.description),
        ("run_id", v.run_id),
        ("status_message", v.status_message),
        ("model_id", v.tags.get(MODEL_ID_TAG)),
    ):
        if value:
            out[key] = value
    return out


def model_json(backend: Backend, m: RegisteredModel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": m.name,
        "creation_timestamp": m.created_at,
        "last_updated_timestamp": m.updated_at,
        "tags": tag_list(m.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(m.aliases.items())],
    }
    if m.description:
        out["description"] = m.description
    if m.owner:
        out["user_id"] = m.owner
    if m.latest_version is not None:
        with contextlib.suppress(NotFound):  # deleted meanwhile
            out["latest_versions"] = [version_json(backend.registry.get_version(m.name, m.latest_version))]
    return out


def _version_number(fields: Fields) -> int:
    raw = str(required(fields, "version"))
    if not raw.isdigit():
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Model version must be an integer, got '{raw}'")
    return int(raw)


def _page(fields: Fields, most: int, default: int) -> tuple[int, int]:
    limit = integer(fields, "max_results", default) or default
    if not 1 <= limit <= most:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be between 1 and {most}, got {limit}")
    token = text(fields, "page_token") or ""
    if token and not token.isdigit():
        raise MlflowError("INVALID_PARAMETER_VALUE", f"invalid page token {token!r}")
    return limit, int(token or 0)


def _paged(items: list[Any], limit: int, offset: int) -> tuple[list[Any], str | None]:
    end = offset + limit
    return items[offset:end], (str(end) if end < len(items) else None)


# ------------------------------------------------------------------ filters
_CLAUSE = re.compile(r"^\s*(?P<key>[A-Za-z_.`]+)\s*(?P<op>=|!=|LIKE|ILIKE|IN)\s*(?P<value>.+?)\s*$", re.IGNORECASE)


def _parse_filter(filter_string: str | None) -> list[tuple[str, str, Any]]:
    """``name = 'x' AND run_id = 'y'``, ``name LIKE 'a%'``, ``run_id IN ('a', 'b')``, ``tags.k = 'v'``."""
    if not filter_string or not filter_string.strip():
        return []
    clauses = []
    for part in re.split(r"\s+AND\s+", filter_string.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match is None:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid filter '{filter_string}': cannot parse {part!r}")
        key = match["key"].strip("`").lower()
        key = key.removeprefix("attributes.").removeprefix("attribute.")
        op = match["op"].upper()
        raw = match["value"]
        if op == "IN":
            items = re.findall(r"'([^']*)'|\"([^\"]*)\"", raw)
            value: Any = [a or b for a, b in items]
        else:
            quoted = re.fullmatch(r"'(.*)'|\"(.*)\"", raw)
            value = raw if quoted is None else next(g for g in quoted.groups() if g is not None)
        clauses.append((key, op, value))
    return clauses


def _like(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _holds(actual: str | None, op: str, value: Any) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    if op == "IN":
        return actual in value
    if actual is None:
        return False
    return _like(str(value), actual, ignore_case=op == "ILIKE")


def _field(obj: ModelVersion | RegisteredModel, key: str) -> str | None:
    if key.startswith("tags.") or key.startswith("tag."):
        return obj.tags.get(key.split(".", 1)[1].strip("`\"'"))
    if key == "name":
        return obj.name
    if isinstance(obj, ModelVersion):
        if key == "run_id":
            return obj.run_id
        if key == "source_path" or key == "source":
            return obj.source
        if key == "version_number" or key == "version":
            return str(obj.version)
        if key == "model_id":
            return obj.tags.get(MODEL_ID_TAG)
    raise MlflowError("INVALID_PARAMETER_VALUE", f"Invalid filter: unsupported attribute '{key}'")


# ------------------------------------------------------------------ registered models
@route("POST", "registered-models/create")
def create_registered_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "name"))
    try:
        model = backend.registry.create_model(
            name, description=text(fields, "description"), tags=key_values(fields.get("tags"), "tags") or None
        )
    except AlreadyExists:
        raise AlreadyExists(f"Registered Model (name={name}) already exists.") from None
    return {"registered_model": model_json(backend, model)}


@route("GET", "registered-models/get")
def get_registered_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    return {"registered_model": model_json(backend, _model(backend, str(required(fields, "name"))))}


def _model(backend: Backend, name: str) -> RegisteredModel:
    try:
        return backend.registry.get_model(name)
    except NotFound:
        raise NotFound(f"Registered Model with name={name} not found") from None


@route("GET", "registered-models/search")
@route("POST", "registered-models/search")
def search_registered_models(backend: Backend, fields: Fields) -> dict[str, Any]:
    limit, offset = _page(fields, MAX_MODELS, 100)
    clauses = _parse_filter(text(fields, "filter"))
    models = backend.registry.search_models(max_results=50_000)
    found = [m for m in models if all(_holds(_field(m, k), op, v) for k, op, v in clauses)]
    page, token = _paged(found, limit, offset)
    answer: dict[str, Any] = {"registered_models": [model_json(backend, m) for m in page]}
    if token:
        answer["next_page_token"] = token
    return answer


@route("PATCH", "registered-models/update")
def update_registered_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "name"))
    _model(backend, name)
    model = backend.registry.update_model(name, description=text(fields, "description") or "")
    return {"registered_model": model_json(backend, model)}


@route("POST", "registered-models/rename")
def rename_registered_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "name"))
    _model(backend, name)
    new_name = text(fields, "new_name") or "<new name>"
    raise MlflowError(
        "INVALID_PARAMETER_VALUE",
        f"treadle does not rename registered models (aliases, rollouts and deployments refer to '{name}' by name). "
        f"Copy the versions you need instead: MlflowClient().copy_model_version('models:/{name}/<version>', "
        f"'{new_name}') for each, move the aliases, then delete_registered_model('{name}') if it is no longer used.",
    )


@route("DELETE", "registered-models/delete")
def delete_registered_model(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "name"))
    _model(backend, name)
    aliases = backend.registry.list_aliases(name)
    if guarded := [a.alias for a in aliases if a.protected]:  # refused before any alias is touched
        raise InvalidArgument(f"model {name!r} has protected aliases {', '.join(guarded)}: unprotect them first")
    for alias in aliases:
        if alias.version is not None:
            backend.registry.delete_alias(name, alias.alias, actor="mlflow")
    backend.registry.delete_model(name)
    return {}


@route("POST", "registered-models/set-tag")
def set_registered_model_tag(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "name"))
    _model(backend, name)
    backend.registry.set_model_tag(name, str(required(fields, "key")), text(fields, "value") or "")
    return {}


@route("POST", "registered-models/get-latest-versions")
@route("GET", "registered-models/get-latest-versions")
def get_latest_versions(backend: Backend, fields: Fields) -> dict[str, Any]:
    model = _model(backend, str(required(fields, "name")))
    stages = fields.get("stages") or []
    stages = stages if isinstance(stages, list) else [stages]
    if model.latest_version is None or (stages and not any(str(s).lower() == "none" for s in stages)):
        return {"model_versions": []}
    return {"model_versions": [version_json(backend.registry.get_version(model.name, model.latest_version))]}


# ------------------------------------------------------------------ aliases
@route("POST", "registered-models/alias")
def set_alias(backend: Backend, fields: Fields) -> dict[str, Any]:
    name, alias = str(required(fields, "name")), str(required(fields, "alias"))
    version = _version_number(fields)
    _model(backend, name)
    _version(backend, name, version)
    backend.registry.set_alias(name, alias, version, actor="mlflow")
    return {}


@route("DELETE", "registered-models/alias")
def delete_alias(backend: Backend, fields: Fields) -> dict[str, Any]:
    name, alias = str(required(fields, "name")), str(required(fields, "alias"))
    _model(backend, name)
    try:
        backend.registry.delete_alias(name, alias, actor="mlflow")
    except NotFound:
        raise NotFound(f"Registered model alias {alias} not found.") from None
    return {}


@route("GET", "registered-models/alias")
def get_version_by_alias(backend: Backend, fields: Fields) -> dict[str, Any]:
    name, alias = str(required(fields, "name")), str(required(fields, "alias"))
    _model(backend, name)
    try:
        version = backend.registry.get_version_by_alias(name, alias)
    except NotFound:
        raise NotFound(f"Registered model alias {alias} not found.") from None
    return {"model_version": version_json(version)}


# ------------------------------------------------------------------ versions
def _version(backend: Backend, name: str, version: int) -> ModelVersion:
    try:
        return backend.registry.get_version(name, version)
    except NotFound:
        raise NotFound(f"Model Version (name={name}, version={version}) not found") from None


@route("POST", "model-versions/create")
def create_model_version(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "name"))
    source = str(required(fields, "source"))
    run_id = text(fields, "run_id") or None
    model_id = text(fields, "model_id") or None
    tags = key_values(fields.get("tags"), "tags")
    description = text(fields, "description") or None
    files: list[ArtifactIn] | None = None
    treadle_source = source

    if model_id is None and (logged := _LOGGED.match(source)):
        model_id = logged["id"]
    if (match := _RUNS.match(source) or _RUN_ARTIFACTS.match(source)) is not None:
        run_id = run_id or match["run"]
        if run_id != match["run"]:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"run_id {run_id} is not the run of source {source}")
        treadle_source = f"runs:/{match['run']}/{match['path'] or ''}".rstrip("/")
    elif model_id is not None:
        props = lm.get_props(backend, model_id)
        run_id = run_id or props.get("source_run_id")
        uri = lm.treadle_uri(props)
        if uri is not None:
            treadle_source = uri
        else:  # a logged model made outside any run: its own files
            listed_files = backend.artifacts.list_files(lm.own_manifest(model_id))
            files = [ArtifactIn(path=f.path, digest=f.digest, size=f.size) for f in listed_files]
            if not files:
                raise MlflowError("INVALID_PARAMETER_VALUE", f"logged model {model_id} has no files yet")
    elif (other := _VERSION.match(source)) is not None:
        base = _version(backend, other["name"], int(other["version"]))
        listed_files = backend.registry.list_version_files(base.name, base.version)
        files = [ArtifactIn(path=f.path, digest=f.digest, size=f.size) for f in listed_files]
        run_id = run_id or base.run_id
    else:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE",
            f"cannot register source {source!r}: use runs:/<run id>/<path>, models:/<logged model id>, "
            "models:/<name>/<version> or a run's mlflow-artifacts:/ URI",
        )
    if model_id is not None:
        tags[MODEL_ID_TAG] = model_id
    try:
        version = backend.registry.create_version(
            name,
            treadle_source if files is None else source,
            run_id=run_id if files is not None else None,
            files=files,
            description=description,
            tags=tags or None,
            created_by=text(fields, "user_id") or None,
        )
    except InvalidArgument as exc:
        raise MlflowError("INVALID_PARAMETER_VALUE", exc.message) from None
    if model_id is not None:
        with contextlib.suppress(NotFound):
            lm.add_registration(backend, model_id, version.name, version.version)
    return {"model_version": version_json(version)}


@route("GET", "model-versions/get")
def get_model_version(backend: Backend, fields: Fields) -> dict[str, Any]:
    name = str(required(fields, "name"))
    return {"model_version": version_json(_version(backend, name, _version_number(fields)))}


@route("PATCH", "model-versions/update")
def update_model_version(backend: Backend, fields: Fields) -> dict[str, Any]:
    name, number = str(required(fields, "name")), _version_number(fields)
    _version(backend, name, number)
    version = backend.registry.update_version(name, number, description=text(fields, "description"))
    return {"model_version": version_json(version)}


@route("DELETE", "model-versions/delete")
def delete_model_version(backend: Backend, fields: Fields) -> dict[str, Any]:
    name, number = str(required(fields, "name")), _version_number(fields)
    version = _version(backend, name, number)
    for alias in version.aliases:
        backend.registry.delete_alias(name, alias, actor="mlflow")
    backend.registry.delete_version(name, number)
    return {}


@route("POST", "model-versions/set-tag")
def set_model_version_tag(backend: Backend, fields: Fields) -> dict[str, Any]:
    name, number = str(required(fields, "name")), _version_number(fields)
    _version(backend, name, number)
    backend.registry.set_version_tag(name, number, str(required(fields, "key")), text(fields, "value") or "")
    return {}


@route("POST", "model-versions/transition-stage")
def transition_stage(backend: Backend, fields: Fields) -> dict[str, Any]:
    name, number = str(required(fields, "name")), _version_number(fields)
    _version(backend, name, number)
    stage = text(fields, "stage") or "<stage>"
    raise MlflowError(
        "INVALID_PARAMETER_VALUE",
        f"model version stages are not supported (deprecated since MLflow 2.9, gone in MLflow 3): use an alias "
        f"instead, e.g. MlflowClient().set_registered_model_alias('{name}', '{stage.lower()}', {number}), and load "
        f"it as 'models:/{name}@{stage.lower()}'",
    )


@route("GET", "model-versions/search")
@route("POST", "model-versions/search")
def search_model_versions(backend: Backend, fields: Fields) -> dict[str, Any]:
    limit, offset = _page(fields, MAX_VERSIONS, 10_000)
    clauses = _parse_filter(text(fields, "filter"))
    name = next((v for k, op, v in clauses if k == "name" and op == "="), None)
    run_id = next((v for k, op, v in clauses if k == "run_id" and op == "="), None)
    versions = backend.registry.search_versions(name=name, run_id=run_id, max_results=50_000)
    found = [v for v in versions if all(_holds(_field(v, k), op, val) for k, op, val in clauses)]
    page, token = _paged(found, limit, offset)
    answer: dict[str, Any] = {"model_versions": [version_json(v) for v in page]}
    if token:
        answer["next_page_token"] = token
    return answer


@route("GET", "model-versions/get-download-uri")
def get_download_uri(backend: Backend, fields: Fields) -> dict[str, Any]:
    name, number = str(required(fields, "name")), _version_number(fields)
    version = _version(backend, name, number)
    return {"artifact_uri": download_uri(backend, version)}


def download_uri(backend: Backend, version: ModelVersion) -> str:
    """The mlflow-artifacts URI of a version's files: its own manifest, pinned at registration."""
    del backend
    return f"{artifact_root(REGISTRY_ROOT)}/{version.name}/{version.version}/artifacts"


REGISTRY_ROOT = "registry"


@add_resolver
def _version_files(backend: Backend, parts: list[str]) -> Location | None:
    # registry/<name>/<version>/artifacts[/<path>]: a registered version's files (read-only)
    if len(parts) < 4 or parts[0] != REGISTRY_ROOT or parts[3] != "artifacts" or not parts[2].isdigit():
        return None
    name, number = parts[1], int(parts[2])
    _version(backend, name, number)

    def refuse(files: list[ArtifactIn]) -> None:
        del files
        raise MlflowError("INVALID_PARAMETER_VALUE", "a registered model version's files cannot be changed")

    return Location(
        f"models:/{name}/{number}",
        "/".join(parts[4:]),
        refuse,
        files=lambda: backend.registry.list_version_files(name, number),
    )
