"""Small HTML-form plumbing for the UI's few POST routes (no python-multipart: urlencoded bodies only)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from treadle.access import AccessService
from treadle.errors import InvalidArgument
from treadle.store import DEFAULT_WORKSPACE
from treadle.ui._render import error_page

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


def actor_of(request: Request, default: str = "ui") -> str:
    """Who a UI change is recorded as: the signed-in user, or ``default`` on a server without sign-in."""
    principal = (request.scope.get("state") or {}).get("principal")
    if principal is not None and principal.via not in ("anonymous", "local"):
        return str(principal.user)
    return default


def workspace_admin(request: Request, access: AccessService) -> bool:
    """Whether the caller may do what the API keeps for a workspace's admins (protect an alias):
    always without sign-in; otherwise a server admin or an admin of the request's workspace."""
    state = request.scope.get("state") or {}
    if not state.get("auth"):
        return True
    principal = state.get("principal")
    if principal is None:
        return False
    # the gateway's rule (Principal.has), for the one form whose fields decide the role it needs
    return bool(principal.has("admin", access.role_of(principal.user, state.get("workspace", DEFAULT_WORKSPACE))))


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


async def form_post(
    request: Request, back: tuple[str, str], respond: Callable[[dict[str, str] | None, str | None], Response]
) -> Response:
    """One same-origin form post: read the urlencoded form (or why it could not be read) and answer with
    ``respond(form, bad)``, run off the event loop (it touches the store); a cross-site post gets a 403
    page linking to ``back``."""
    if not same_origin(request):
        return error_page(request, 403, "Refused", "This form can only be sent from treadle's own pages.", back=back)
    form, bad = None, None
    try:
        form = await read_form(request)
    except InvalidArgument as exc:
        bad = exc.message
    response: Response = await run_in_threadpool(respond, form, bad)
    return response
