"""Who the current call is for: the server sets it per request; elsewhere it is the local process."""

from __future__ import annotations

from contextvars import ContextVar

from treadle.access._records import LOCAL, Principal

_caller: ContextVar[Principal | None] = ContextVar("treadle_caller", default=None)


def current_caller() -> Principal:
    return _caller.get() or LOCAL


def set_caller(principal: Principal | None) -> object:
    """Set the caller for this context; returns a token for :func:`reset_caller`."""
    return _caller.set(principal)


def reset_caller(token: object) -> None:
    _caller.reset(token)  # type: ignore[arg-type]
