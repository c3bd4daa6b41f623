"""``treadle serve``: build the endpoints for a target and run the inference server under uvicorn.

A target is a model URI (``models:/churn@champion``, ``models:/churn/3``, ``runs:/<run>/model``, a
folder) or a serving file (YAML) with ``models:`` (a list of :class:`~treadle.rollout.ModelSpec`)
and optional ``graphs:`` over them. Models that follow an alias reload when it moves. uvicorn runs
with uvloop and httptools when they are installed (both are core dependencies).
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument
from treadle.rollout import BatchingSpec, ModelSpec, ReplicaSpec
from treadle.serving._metrics import ServingMetrics
from treadle.serving._types import Endpoint, RequestSink

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from treadle.client import Client

log = logging.getLogger("treadle.serving")

_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


def model_name(uri: str) -> str:
    """The name a model is served under when none is given: the registered name, else the folder's."""
    if uri.startswith("models:/"):
        return re.split(r"[/@]", uri[len("models:/") :], maxsplit=1)[0]
    tail = uri.rstrip("/").rsplit("/", 1)[-1] or "model"
    return _NAME.sub("-", tail) or "model"


def model_spec(
    uri: str,
    *,
    name: str | None = None,
    workers: int = 1,
    max_replicas: int | None = None,
    batch_size: int | None = None,
    max_latency_ms: float = 5.0,
    reload: bool = True,
) -> ModelSpec:
    """The spec ``treadle serve URI`` options describe (``workers=0``: inline, in the server process)."""
    batching = BatchingSpec(max_batch_size=batch_size, max_latency_ms=max_latency_ms) if batch_size else None
    replicas = ReplicaSpec.model_validate({"min_replicas": workers, "max_replicas": max_replicas})
    return ModelSpec(name=name or model_name(uri), uri=uri, batching=batching, replicas=replicas, reload=reload)


def read_serving_file(path: Path) -> tuple[list[ModelSpec], list[Any]]:
    """``(models, graphs)`` of a serving YAML file."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list) or not doc["models"]:
        raise InvalidArgument(f"{path} needs a 'models:' list of {{name, uri}} entries")
    unknown = sorted(set(doc) - {"models", "graphs"})
    if unknown:
        raise InvalidArgument(f"{path}: unknown key {unknown[0]!r} (a serving file has models: and graphs:)")
    try:
        models = [ModelSpec.model_validate(m) for m in doc["models"]]
    except ValueError as exc:
        raise InvalidArgument(f"{path}: bad model entry: {exc}") from None
    return models, list(doc.get("graphs") or [])


def build_endpoints(
    target: str,
    client: Client,
    *,
    spec: ModelSpec | None = None,
    backend: str = "local",
    metrics: ServingMetrics,
    reload_interval_s: float = 2.0,
    **options: Any,
) -> tuple[list[Endpoint], list[Callable[[], Awaitable[None]]]]:
    """The endpoints ``target`` names and the background jobs (alias watchers) they need."""
    from treadle.serving._model import ModelEndpoint
    from treadle.serving._reload import follows_alias

    path = Path(target)
    graphs: list[Any] = []
    if target.endswith((".yaml", ".yml")) and path.is_file():
        specs, graphs = read_serving_file(path)
    else:
        specs = [spec or model_spec(target, **options)]
    models = [ModelEndpoint(s, client, backend=backend, metrics=metrics) for s in specs]
    endpoints: list[Endpoint] = list(models)
    if graphs:
        try:
            from treadle.serving._graph import graph_endpoints
        except ImportError as exc:
            raise InvalidArgument(f"this treadle cannot serve inference graphs ({exc})") from None
        endpoints += graph_endpoints(graphs, {m.name: m for m in models})
    jobs = [_watch(m, client, reload_interval_s) for m in models if m.spec.reload and follows_alias(m.spec.uri)]
    return endpoints, jobs


def _watch(endpoint: Any, client: Client, interval_s: float) -> Callable[[], Awaitable[None]]:
    async def watch() -> None:
        import anyio

        from treadle.serving._reload import AliasWatcher

        watcher = AliasWatcher(endpoint, client, interval_s)
        watcher.start()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await watcher.stop()

    watch.__name__ = f"reload-{endpoint.name}"
    return watch


def serving_app(
    target: str,
    *,
    client: Client | None = None,
    deployment: bool = False,
    backend: str = "local",
    log_requests: bool = False,
    max_body_bytes: int = 64 * 1024 * 1024,
    **options: Any,
) -> Starlette:
    """The app ``treadle serve`` runs: a model URI / serving file, or (``deployment=True``) a deployment."""
    from treadle.client import Client
    from treadle.serving._app import create_serving_app

    client = client or Client()
    metrics = ServingMetrics()
    sink: RequestSink | None = None
    if log_requests or deployment:
        from treadle.serving._reqlog import RequestLogger

        sink = RequestLogger(client)
    if deployment:
        from treadle.serving._deploy import deployment_endpoint

        endpoint = deployment_endpoint(target, client, sink=sink, metrics=metrics, backend=backend)
        return create_serving_app(
            [endpoint], sink=sink, metrics=metrics, feedback=endpoint.feedback, max_body_bytes=max_body_bytes
        )
    endpoints, jobs = build_endpoints(target, client, backend=backend, metrics=metrics, **options)
    return create_serving_app(endpoints, sink=sink, metrics=metrics, max_body_bytes=max_body_bytes, background=jobs)


def serve(target: str, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info", **options: Any) -> None:
    """Serve ``target`` until interrupted (see :func:`serving_app` for ``options``)."""
    import uvicorn

    app = serving_app(target, **options)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, **uvicorn_options())


def uvicorn_options() -> dict[str, Any]:
    """uvloop and httptools when installed: the fastest event loop and HTTP parser uvicorn has."""
    out: dict[str, Any] = {}
    if importlib.util.find_spec("uvloop") is not None:
        out["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        out["http"] = "httptools"
    return out
