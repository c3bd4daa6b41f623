"""``POST /features/online``: the feature server's lookup route, written by hand for speed.

The body is parsed with orjson and checked here (no pydantic model on the way in or out); the
lookup runs in the thread pool so a slow store never stalls the event loop. Errors are treadle
errors, which the app maps to ``{"error": {"code", "message"}}`` answers (400 for bad input).

Body: ``{"features": ["view:feature", ...], "entities": {"driver_id": [1, 2]}}`` (columns) or
``{"features": [...], "entity_rows": [{"driver_id": 1}, ...]}`` (rows), plus optional
``"full_names": true``. Answer: ``{"features", "values", "status", "event_ts", "age_ms"}``, each
a ``{column: [one entry per entity]}`` mapping (see :class:`~treadle.features.OnlineResult`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from treadle.errors import InvalidArgument

_KEYS = {"features", "entities", "entity_rows", "full_names"}

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["features"],
    "additionalProperties": False,
    "properties": {
        "features": {"type": "array", "items": {"type": "string"}, "description": "'view:feature' references"},
        "entities": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {}},
            "description": "join key (and request field) columns, one entry per entity",
        },
        "entity_rows": {"type": "array", "items": {"type": "object"}, "description": "or: one object per entity"},
        "full_names": {"type": "boolean", "default": False, "description": "name columns view__feature"},
    },
}


def parse_request(body: bytes) -> tuple[list[dict[str, Any]], list[str], bool]:
    """(entity rows, feature references, full_names) from a request body; InvalidArgument when malformed."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument('the request body must be a JSON object: {"features": [...], "entities": {...}}')
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InvalidArgument(f"unknown fields {unknown} in the request body; expected {sorted(_KEYS)}")
    features = data.get("features")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise InvalidArgument('"features" must be a non-empty list of "view:feature" strings')
    full_names = data.get("full_names", False)
    if not isinstance(full_names, bool):
        raise InvalidArgument('"full_names" must be true or false')
    if ("entities" in data) == ("entity_rows" in data):
        raise InvalidArgument('give the entities either as "entities" (columns) or as "entity_rows" (rows), not both')
    if "entity_rows" in data:
        rows = data["entity_rows"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InvalidArgument('"entity_rows" must be a list of objects like {"driver_id": 1}')
        return rows, features, full_names
    columns = data["entities"]
    if not isinstance(columns, dict) or not columns or not all(isinstance(v, list) for v in columns.values()):
        raise InvalidArgument('"entities" must be an object of columns like {"driver_id": [1, 2]}')
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidArgument(f'the "entities" columns have different lengths: {lengths}')
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)], features, full_names


def online_router(get_service: Callable[[], Any]) -> APIRouter:
    """A router with ``POST /features/online`` over the feature service ``get_service()`` returns."""
    router = APIRouter(tags=["features"])

    @router.post(
        "/features/online",
        summary="Online feature values with per-feature freshness",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": REQUEST_SCHEMA}}}},
    )
    async def features_online(request: Request) -> Response:
        rows, features, full_names = parse_request(await request.body())
        service = get_service()
        result = await run_in_threadpool(service.get_online_features, rows, features, full_names)
        return Response(orjson.dumps(result), media_type="application/json")

    return router
