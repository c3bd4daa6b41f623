"""Mounting services: every ``@operation`` becomes ``POST /api/v1/<capability>/<operation>``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response

from treadle.ops import OperationSpec, Service, body_model, operations, result_adapter


def _endpoint(service: Service, spec: OperationSpec) -> Callable[..., Response]:
    body_cls = body_model(type(service), spec)
    method = getattr(service, spec.name)
    result = result_adapter(spec)
    names = list(spec.parameters)

    def endpoint(body: Any) -> Response:
        value = method(**{name: getattr(body, name) for name in names})
        return Response(result.dump_json(value), media_type="application/json")

    # FastAPI reads the signature: give it the real body model so it validates and documents it.
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=body_cls)]
    )
    endpoint.__name__ = f"{type(service).capability}_{spec.name}"
    return endpoint


def service_router(service: Service) -> APIRouter:
    router = APIRouter(prefix=f"/api/v1/{service.capability}", tags=[service.capability])
    for name, spec in operations(type(service)).items():
        router.add_api_route(
            f"/{name}",
            _endpoint(service, spec),
            methods=["POST"],
            summary=spec.summary,
            description=inspect.getdoc(getattr(type(service), name)) or "",
            response_model=spec.returns,
            operation_id=f"{service.capability}_{name}",
        )
    return router
