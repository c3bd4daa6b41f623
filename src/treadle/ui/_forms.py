"""Small HTML-form plumbing for the UI's few POST routes (no python-multipart: urlencoded bodies only)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from treadle.errors import InvalidArgument

MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as {field: first value}; InvalidArgument otherwise."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidArgument(f"send the form urlencoded, not as {kind or 'an unnamed type'}")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidArgument(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidArgument("the form is not UTF-8") from None
    return {key: values[0].strip() for key, values in fields.items() if values}


def same_origin(request: Request) -> bool:
    """False for a cross-site POST: these forms change the registry, another site must not submit them."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")} - {""}
    return urlsplit(origin).netloc in hosts


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def positive_int(raw: str | None, what: str) -> int:
    """A form field that must hold a version number."""
    if raw is None or not raw.strip():
        raise InvalidArgument(f"choose a {what}")
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
        raise InvalidArgument(f"{what} must be a positive whole number, not {raw!r}")
    return int(value)
