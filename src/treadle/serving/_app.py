"""The inference server's ASGI app: Open Inference Protocol, MLflow ``/invocations``, health, metrics.

Plain Starlette routes (no request models, no dependency injection) keep a small request to a few
hundred microseconds of server overhead. Every infer call gets a request id (the OIP body's ``id``,
else the ``x-request-id`` header, else a new one), is counted in the metrics and handed to the request
sink after it is answered. Deployments' answers carry ``x-treadle-decision-id`` and
``x-treadle-variant`` headers (and OIP ``parameters`` / top-level JSON keys). The A/B unit comes from
the ``x-treadle-unit`` header or a ``unit`` request parameter.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from treadle.errors import InvalidArgument, NotFound
from treadle.serving._http import (
    decision_headers,
    error_response,
    error_status,
    header_safe,
    json_response,
    new_id,
    not_found,
    read_body,
    server_version,
)
from treadle.serving._invocations import decode_invocations, encode_invocations
from treadle.serving._lifespan import serving_lifespan
from treadle.serving._metrics import CONTENT_TYPE, ServingMetrics
from treadle.serving._oip import HEADER_LENGTH, decode_request, encode_response
from treadle.serving._types import Endpoint, InferRequest, InferResult, LogRecord, RequestSink

MiB = 1024 * 1024
Feedback = Callable[[str, float], Awaitable[dict[str, Any]]]


class _Server:
    """The routes' shared state: endpoints by name, the sink, the metrics and the feedback hook."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        sink: RequestSink | None,
        metrics: ServingMetrics,
        feedback: Feedback | None,
        max_body_bytes: int,
    ) -> None:
        self.endpoints = {e.name: e for e in endpoints}
        if len(self.endpoints) != len(endpoints):
            raise InvalidArgument("two served models have the same name; give each a distinct name")
        self.sink = sink
        self.metrics = metrics
        self.feedback_hook = feedback
        self.limit = max_body_bytes

    def endpoint(self, name: str, version: str | None = None) -> Endpoint:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            served = ", ".join(self.endpoints) or "none"
            raise NotFound(f"model {name!r} is not served here (serving: {served})")
        if version is not None and version not in endpoint.versions:
            raise NotFound(f"model {name!r} has no version {version!r} here (serving {', '.join(endpoint.versions)})")
        return endpoint

    # ------------------------------------------------------------------ health and metadata

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        ok = all(e.ready for e in self.endpoints.values())
        return json_response({"ready": ok}, 200 if ok else 400)

    async def ping(self, request: Request) -> Response:
        ok = all(e.ready for e in self.endpoints.values())
        return json_response({"status": "ok" if ok else "loading"}, 200 if ok else 503)

    async def server_metadata(self, request: Request) -> Response:
        return json_response({"name": "treadle", "version": server_version(), "extensions": ["binary_tensor_data"]})

    async def models(self, request: Request) -> Response:
        body = [{"name": e.name, "versions": e.versions, "ready": e.ready} for e in self.endpoints.values()]
        return json_response({"models": body})

    async def model_metadata(self, request: Request) -> Response:
        try:
            endpoint = self.endpoint(request.path_params["model"], request.path_params.get("version"))
            return json_response(endpoint.metadata())
        except Exception as exc:
            return error_response(exc, None)

    async def model_ready(self, request: Request) -> Response:
        try:
            endpoint = self.endpoint(request.path_params["model"], request.path_params.get("version"))
        except Exception as exc:
            return error_response(exc, None)
        return json_response({"name": endpoint.name, "ready": endpoint.ready}, 200 if endpoint.ready else 400)

    async def metrics_route(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    async def feedback(self, request: Request) -> Response:
        if self.feedback_hook is None:
            return json_response({"error": "this server serves no deployment, so it takes no feedback"}, 404)
        try:
            doc = orjson.loads(await read_body(request, self.limit))
            if not isinstance(doc, dict) or not isinstance(doc.get("decision_id"), str):
                raise InvalidArgument('feedback needs {"decision_id": "<from the response>", "reward": <number>}')
            reward = doc.get("reward")
            if isinstance(reward, bool) or not isinstance(reward, (int, float)):
                raise InvalidArgument(f"reward must be a number, got {reward!r}")
            return json_response(await self.feedback_hook(doc["decision_id"], float(reward)))
        except orjson.JSONDecodeError as exc:
            return error_response(InvalidArgument(f"the feedback body is not valid JSON: {exc}"), None)
        except Exception as exc:
            return error_response(exc, None)

    # ------------------------------------------------------------------ inference

    async def infer(self, request: Request) -> Response:
        def decode(body: bytes) -> tuple[InferRequest, Any]:
            header = request.headers.get(HEADER_LENGTH)
            if header is not None and not (header.isascii() and header.strip().isdigit()):
                raise InvalidArgument(f"Inference-Header-Content-Length must be a number, got {header!r}")
            decoded = decode_request(body, int(header) if header is not None else None)
            return decoded.request, decoded

        def encode(result: InferResult, decoded: Any) -> Response:
            payload, head = encode_response(result, decoded)
            headers = decision_headers(result)
            if head is None:
                return Response(payload, media_type="application/json", headers=headers)
            headers["inference-header-content-length"] = str(head)
            return Response(payload, media_type="application/octet-stream", headers=headers)

        return await self._serve(
            request, request.path_params["model"], request.path_params.get("version"), decode, encode
        )

    async def invocations(self, request: Request) -> Response:
        name = request.query_params.get("model") or request.headers.get("x-treadle-model")
        if name is None:
            name = next(iter(self.endpoints), "")

        def decode(body: bytes) -> tuple[InferRequest, Any]:
            req = decode_invocations(body, request.headers.get("content-type"))
            wanted = req.parameters.get("outputs") or req.parameters.get("predict_method")
            if isinstance(wanted, str):
                wanted = [wanted]
            if wanted is not None and not (isinstance(wanted, list) and all(isinstance(w, str) for w in wanted)):
                raise InvalidArgument("params.outputs must be a list of output names, e.g. ['predict_proba']")
            req.outputs = wanted
            return req, None

        def encode(result: InferResult, _: Any) -> Response:
            extra: dict[str, Any] = {
                k: result.parameters[k] for k in ("decision_id", "variant") if k in result.parameters
            }
            payload = encode_invocations(result.outputs, extra)
            return Response(payload, media_type="application/json", headers=decision_headers(result))

        return await self._serve(request, name, None, decode, encode)

    async def _serve(
        self,
        request: Request,
        name: str,
        version: str | None,
        decode: Callable[[bytes], tuple[InferRequest, Any]],
        encode: Callable[[InferResult, Any], Response],
    ) -> Response:
        started = time.perf_counter()
        arrived_ms = int(time.time() * 1000)
        rid = request.headers.get("x-request-id")
        endpoint: Endpoint | None = None
        req: InferRequest | None = None
        result: InferResult | None = None
        failure: BaseException | None = None
        try:
            endpoint = self.endpoint(name, version)
            req, extra = decode(await read_body(request, self.limit))
            if req.id is None:
                req.id = rid or new_id()
            rid = req.id
            unit = request.headers.get("x-treadle-unit")
            if unit is not None:
                req.unit = unit
            result = await endpoint.infer(req)
            response = encode(result, extra)
            if header_safe(rid):
                response.headers["x-request-id"] = rid
        except Exception as exc:
            failure = exc
            rid = rid or new_id()
            response = error_response(exc, rid)
        if endpoint is not None:
            self._record(endpoint, req, result, failure, rid, arrived_ms, time.perf_counter() - started)
        return response

    def _record(
        self,
        endpoint: Endpoint,
        req: InferRequest | None,
        result: InferResult | None,
        failure: BaseException | None,
        rid: str | None,
        arrived_ms: int,
        elapsed_s: float,
    ) -> None:
        status = 200 if failure is None else error_status(failure)
        model_version = result.model_version if result is not None else str(getattr(endpoint, "version", ""))
        params = result.parameters if result is not None else {}
        variant = params.get("variant")
        self.metrics.observe(endpoint.name, model_version, elapsed_s, status, variant)
        if self.sink is None:
            return
        self.sink.log(
            LogRecord(
                id=rid or "",
                time_ms=arrived_ms,
                endpoint=endpoint.name,
                model_version=model_version,
                inputs=req.inputs if req is not None else {},
                outputs=result.outputs if result is not None else None,
                latency_ms=elapsed_s * 1000.0,
                status=status,
                variant=variant,
                decision_id=params.get("decision_id"),
                error=None if failure is None else str(failure),
            )
        )


def create_serving_app(
    endpoints: list[Endpoint],
    *,
    sink: RequestSink | None = None,
    metrics: ServingMetrics | None = None,
    feedback: Feedback | None = None,
    max_body_bytes: int = 64 * MiB,
    background: list[Callable[[], Awaitable[None]]] | None = None,
) -> Starlette:
    """An inference server for ``endpoints``; they are started (concurrently) when the app starts,
    ``background`` coroutines run beside it, and everything is stopped (drained) at shutdown."""
    metrics = metrics or ServingMetrics()
    if sink is not None:
        metrics.register_sink(sink)
    srv = _Server(endpoints, sink, metrics, feedback, max_body_bytes)

    model = "/v2/models/{model}"
    versioned = "/v2/models/{model}/versions/{version}"
    routes = [
        Route("/v2/health/live", srv.live, methods=["GET"]),
        Route("/v2/health/ready", srv.ready, methods=["GET"]),
        Route("/v2", srv.server_metadata, methods=["GET"]),
        Route("/v2/models", srv.models, methods=["GET"]),
        Route(model, srv.model_metadata, methods=["GET"]),
        Route(versioned, srv.model_metadata, methods=["GET"]),
        Route(f"{model}/ready", srv.model_ready, methods=["GET"]),
        Route(f"{versioned}/ready", srv.model_ready, methods=["GET"]),
        Route(f"{model}/infer", srv.infer, methods=["POST"]),
        Route(f"{versioned}/infer", srv.infer, methods=["POST"]),
        Route("/invocations", srv.invocations, methods=["POST"]),
        Route("/ping", srv.ping, methods=["GET"]),
        Route("/health", srv.ping, methods=["GET"]),
        Route("/metrics", srv.metrics_route, methods=["GET"]),
        Route("/feedback", srv.feedback, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=serving_lifespan(endpoints, sink, background),
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.endpoints = srv.endpoints
    app.state.metrics = metrics
    return app
