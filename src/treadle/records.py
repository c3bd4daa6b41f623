"""Base class for records that cross a boundary (SDK, HTTP, CLI)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """A frozen pydantic model; NaN and infinities survive the JSON round trip."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants", extra="forbid")
