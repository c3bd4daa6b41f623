"""MLflow's wire rules: the route table, request fields, proto-JSON values and ``{"error_code", "message"}`` errors.

Every MLflow REST endpoint is one handler ``(backend, fields) -> dict`` registered with :func:`route`
under its path after ``/api/<version>/mlflow/``; the fields come from the query string for GET and
from the JSON body otherwise. Errors are treadle's exceptions mapped onto the codes the mlflow client
branches on; nothing here answers 5xx for a request that would fail the same way again (the client
retries 5xx).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from treadle.client._backend import Backend
from treadle.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidArgument,
    NotFound,
    TooLarge,
    TreadleError,
    Unauthorized,
)

Fields = dict[str, Any]
Handler = Callable[[Backend, Fields], dict[str, Any]]

# (method, "2.0" | "3.0", path after /api/<version>/mlflow/) -> handler
ROUTES: dict[tuple[str, str, str], Handler] = {}


def route(method: str, path: str, versions: tuple[str, ...] = ("2.0",)) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method /api/<version>/mlflow/<path>`` for each of ``versions``."""

    def register(handler: Handler) -> Handler:
        for version in versions:
            ROUTES[(method.upper(), version, path.strip("/"))] = handler
        return handler

    return register


class MlflowError(Exception):
    """An error answered as MLflow answers it."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def error(code: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def as_mlflow(exc: Exception) -> JSONResponse:
    """The MLflow answer for an exception raised while handling a request."""
    match exc:
        case MlflowError():
            return error(exc.code, exc.message, exc.status)
        case NotFound():
            return error("RESOURCE_DOES_NOT_EXIST", exc.message, 404)
        case AlreadyExists():
            return error("RESOURCE_ALREADY_EXISTS", exc.message, 400)
        case InvalidArgument() | TooLarge():
            return error("INVALID_PARAMETER_VALUE", exc.message, 400)
        case Conflict():
            return error("INVALID_STATE", exc.message, 400)
        case Forbidden():
            return error("PERMISSION_DENIED", exc.message, 403)
        case Unauthorized():
            return error("UNAUTHENTICATED", exc.message, 401)
        case TreadleError():
            return error("INTERNAL_ERROR", exc.message, exc.status if exc.status >= 500 else 400)
        case ValidationError():
            details = exc.errors()
            where = ".".join(str(p) for p in details[0]["loc"]) if details else ""
            msg = details[0]["msg"] if details else "invalid"
            return error("INVALID_PARAMETER_VALUE", f"{where or 'value'}: {msg}", 400)
        case ValueError() | TypeError():
            return error("INVALID_PARAMETER_VALUE", str(exc), 400)
    raise exc


async def request_fields(request: Request) -> Fields:
    """GET: the query string (a repeated field becomes a list); otherwise the JSON body."""
    if request.method == "GET":
        fields: Fields = {}
        for key, value in request.query_params.multi_items():
            if key in fields:
                prev = fields[key]
                fields[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                fields[key] = value
        return fields
    body = await request.body()
    if not body.strip():
        return {}
    import orjson

    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MlflowError("MALFORMED_REQUEST", f"the request body is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise MlflowError("MALFORMED_REQUEST", "the request body must be a JSON object")
    return parsed


# ------------------------------------------------------------------ field access
def required(fields: Fields, name: str) -> Any:
    value = fields.get(name)
    if value is None or value == "":
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{name}'.")
    return value


def text(fields: Fields, name: str, default: str | None = None) -> str | None:
    value = fields.get(name, default)
    if isinstance(value, list):
        value = value[-1]
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"parameter '{name}' must be a string")
    return str(value)


def integer(fields: Fields, name: str, default: int | None = None) -> int | None:
    value = fields.get(name)
    if isinstance(value, list):
        value = value[-1]
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"parameter '{name}' must be an integer, got {value!r}") from None


def number(value: Any, name: str) -> float:
    """A proto-JSON double: a number, or "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(value, bool) or value is None:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"parameter '{name}' must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"parameter '{name}' must be a number, got {value!r}") from None


def listed(fields: Fields, name: str) -> list[Any]:
    value = fields.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def key_values(items: Any, name: str) -> dict[str, str]:
    """``[{"key": k, "value": v}, ...]`` as a dict (later keys win)."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"'{name}' must be a list of {{key, value}} objects")
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or not item.get("key"):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"each of '{name}' needs a 'key'")
        out[str(item["key"])] = "" if item.get("value") is None else str(item["value"])
    return out


def double(value: float) -> float | str:
    """A float as proto-JSON writes it (NaN and infinities as strings)."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


__all__ = [
    "ROUTES",
    "Fields",
    "Handler",
    "MlflowError",
    "as_mlflow",
    "double",
    "error",
    "integer",
    "key_values",
    "listed",
    "number",
    "request_fields",
    "required",
    "route",
    "tag_list",
    "text",
]
