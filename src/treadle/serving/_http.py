"""HTTP plumbing for the inference server: bounded body reads, the one error mapping, request ids,
JSON 404/405 answers and the decision headers deployments add.

Errors always answer ``{"error": "<message>"}`` (the Open Inference Protocol's shape) with the
status of the treadle error: bad input 400 naming the input, unknown model 404, too large 413.
A model that raised is a 500 whose message carries the request id, so a caller's report finds the
server's log line; anything unexpected is logged with its traceback and answered the same way.
"""

from __future__ import annotations

import itertools
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from treadle.errors import InvalidArgument, ModelError, TooLarge, TreadleError
from treadle.serving._types import InferResult

log = logging.getLogger("treadle.serving")

JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, default=json_default), status_code=status, media_type=JSON, headers=headers)


def json_default(value: Any) -> Any:
    """orjson's fallback for what it cannot encode itself: numpy arrays it does not take natively
    (non-contiguous, object, float16), numpy scalars, pydantic records."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (TooLarge past it), gzip/deflate decoded."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body has {int(declared)} bytes; this server takes at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is over this server's limit of {limit} bytes")
        chunks.append(chunk)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidArgument(f"Content-Encoding {encoding!r} is not supported (use gzip or deflate)")
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidArgument(f"the {encoding} body cannot be decompressed: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"the decompressed request body is over this server's limit of {limit} bytes")
    return out


def error_status(exc: BaseException) -> int:
    return exc.status if isinstance(exc, TreadleError) else 500


def error_message(exc: BaseException, request_id: str | None) -> str:
    """What the caller reads: the error's own message; 5xx ones carry the request id."""
    if isinstance(exc, TreadleError) and exc.status < 500:
        return exc.message
    rid = f" (request id {request_id})" if request_id else ""
    if isinstance(exc, ModelError):
        log.error("model error%s: %s", rid, exc.message)
        return f"{exc.message}{rid}"
    if isinstance(exc, TreadleError):
        log.warning("request failed%s: %s", rid, exc.message)
        return f"{exc.message}{rid}"
    log.error("unexpected error%s", rid, exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc}{rid}"


def error_response(exc: BaseException, request_id: str | None) -> Response:
    headers = {"x-request-id": request_id} if request_id and header_safe(request_id) else None
    return json_response({"error": error_message(exc, request_id)}, error_status(exc), headers)


def header_safe(value: str) -> bool:
    """Whether ``value`` can be sent as a header value as is. A request id comes from the body too
    (OIP ``id``), where a newline or an emoji is valid JSON but would break the response's headers."""
    return len(value) <= 1024 and value.isascii() and value.isprintable()


_PREFIX = uuid.uuid4().hex[:12]
_COUNTER = itertools.count(1)


def new_id() -> str:
    """A request id unique to this process and run, without a system call per request."""
    return f"{_PREFIX}-{next(_COUNTER)}"


def server_version() -> str:
    try:
        return version("treadle")
    except PackageNotFoundError:
        return "0"


async def guarded(job: Callable[[], Awaitable[None]]) -> None:
    """A background job that fails is logged; it never takes the server down."""
    try:
        await job()
    except Exception:
        log.exception("background job %s failed", getattr(job, "__name__", job))


async def not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    if status == 405:
        return json_response({"error": f"{request.method} is not allowed on {request.url.path}"}, 405)
    return json_response({"error": f"no such route: {request.url.path}"}, status)


def decision_headers(result: InferResult) -> dict[str, str]:
    headers: dict[str, str] = {}
    if "decision_id" in result.parameters:
        headers["x-treadle-decision-id"] = str(result.parameters["decision_id"])
    if "variant" in result.parameters:
        headers["x-treadle-variant"] = str(result.parameters["variant"])
    return headers
