"""Base class for records that cross a boundary (SDK, HTTP, CLI)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# Integers stored in 64-bit SQL columns; larger values are refused at the boundary.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class Record(BaseModel):
    """A frozen pydantic model; NaN and infinities survive the JSON round trip."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants", extra="forbid")


def with_int64(hint: Any) -> Any:
    """``int`` (also inside ``X | None``) replaced by :data:`Int64`, for request bodies."""
    import types
    import typing

    if hint is int:
        return Int64
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = tuple(with_int64(a) for a in typing.get_args(hint))
        return typing.Union[args]  # noqa: UP007
    return hint
