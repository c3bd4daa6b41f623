"""The treadle exception tree.

::

    TreadleError
    ├── NotFound            an id or name that does not exist           (HTTP 404)
    ├── AlreadyExists       a name or key that is taken                 (HTTP 409)
    ├── InvalidArgument     bad input: wrong type, bad filter, bad path (HTTP 400)
    │   └── ParamConflict   a param re-set to a different value         (HTTP 400)
    ├── Conflict            the object is not in the state the call needs (HTTP 409)
    ├── Unauthorized        missing or bad credentials                   (HTTP 401)
    │   └── Forbidden       credentials that do not allow this           (HTTP 403)
    ├── SchemaOutOfDate     the store's schema is older than this code  (HTTP 503)
    ├── CorruptBlob         a blob's bytes do not match its digest       (HTTP 500)
    ├── ModelError          a served model raised while predicting       (HTTP 500)
    ├── TooLarge            a request body over the server's limit       (HTTP 413)
    ├── Unavailable         the server cannot be reached right now; retry (transient)
    └── RemoteError         a server answered with an unexpected error   (re-raised client side)

Every error carries a message that says what was wrong and, where it helps, how to fix it.
The server maps them to HTTP in exactly one place (``treadle.server._errors``) and the
remote client maps the JSON body back to the same class.
"""

from __future__ import annotations


class TreadleError(Exception):
    """Base of every error treadle raises on purpose."""

    code = "INTERNAL_ERROR"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(TreadleError):
    code = "NOT_FOUND"
    status = 404


class AlreadyExists(TreadleError):
    code = "ALREADY_EXISTS"
    status = 409


class InvalidArgument(TreadleError):
    code = "INVALID_ARGUMENT"
    status = 400


class ParamConflict(InvalidArgument):
    code = "PARAM_CONFLICT"


class Conflict(TreadleError):
    code = "CONFLICT"
    status = 409


class Unauthorized(TreadleError):
    code = "UNAUTHORIZED"
    status = 401


class Forbidden(Unauthorized):
    code = "FORBIDDEN"
    status = 403


class SchemaOutOfDate(TreadleError):
    code = "SCHEMA_OUT_OF_DATE"
    status = 503


class CorruptBlob(TreadleError):
    code = "CORRUPT_BLOB"
    status = 500


class ModelError(TreadleError):
    """The model's own code raised (the input was valid); the server logs it and keeps serving."""

    code = "MODEL_ERROR"
    status = 500


class TooLarge(TreadleError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class Unavailable(TreadleError):
    """A transient failure (connection refused, timeout, 502/503/504): safe to retry."""

    code = "UNAVAILABLE"
    status = 503


class RemoteError(TreadleError):
    code = "REMOTE_ERROR"
    status = 502


_BY_CODE: dict[str, type[TreadleError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        AlreadyExists,
        InvalidArgument,
        ParamConflict,
        Conflict,
        Unauthorized,
        Forbidden,
        SchemaOutOfDate,
        CorruptBlob,
        ModelError,
        TooLarge,
        Unavailable,
    )
}


def error_from_code(code: str, message: str) -> TreadleError:
    """Rebuild the error a server reported (used by the remote client)."""
    return _BY_CODE.get(code, RemoteError)(message)
