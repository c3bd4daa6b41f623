"""The online store family: latest feature values per (feature view, entity key).

A backend is deliberately dumb: it stores opaque packed rows under string keys and knows
nothing about schemas, so every backend is small and the lookup path stays a single read.
The feature service encodes keys (:func:`encode_key`), packs rows (:func:`pack`) and unpacks
them (:func:`unpack`); backends only keep bytes and timestamps.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import orjson

KEY_SEPARATOR = "\x1f"  # ASCII unit separator between the parts of a composite entity key

Stored = tuple[bytes, int, int]  # (packed values, event_ts_ms, written_ts_ms)


class OnlineStore(ABC):
    """Latest feature values per (view, entity key). Thread-safe; one instance per process is shared.

    Contract (checked by :mod:`treadle.testing.online_stores` on every backend):

    - ``write(view, keys, values, event_ts)`` stores ``values[i]`` under ``(view, keys[i])`` with
      event time ``event_ts[i]`` (epoch milliseconds UTC) and the write time (now). Writes are
      last-writer-wins *by event time*: a row whose event time is older than the stored one is
      ignored, one with an equal or newer event time replaces it (so re-running a write is
      idempotent). Within one call, a later duplicate key is applied after an earlier one.
      Each row is atomic: a reader sees the old row or the new one, never a mix. Returns the
      number of rows applied (ignored stale rows are not counted). The three sequences must
      have the same length, else ``ValueError``.
    - ``read(view, keys)`` returns, in the order of ``keys``, ``(values, event_ts_ms,
      written_ts_ms)`` for each stored key and ``None`` for a missing key (an unknown view is
      just a view with no keys; nothing raises for "not found"). One call is one round trip.
    - ``delete_view(view)`` removes every key of the view; other views are untouched.
    - ``close()`` releases connections; the store must not be used afterwards.

    All methods may be called from many threads at once.
    """

    @abstractmethod
    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], event_ts: Sequence[int]) -> int: ...

    @abstractmethod
    def read(self, view: str, keys: Sequence[str]) -> list[Stored | None]: ...

    @abstractmethod
    def delete_view(self, view: str) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_lengths(keys: Sequence[str], values: Sequence[bytes], event_ts: Sequence[int]) -> None:
    if not len(keys) == len(values) == len(event_ts):
        raise ValueError(f"write got {len(keys)} keys, {len(values)} values and {len(event_ts)} timestamps")


def _key_part(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer() and not math.isinf(value):
        return str(int(value))  # 7.0 from JSON or pandas is the entity 7
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def encode_key(values: tuple[Any, ...]) -> str:
    """The store key of an entity: its join-key values in the view's entity order.

    Integers and strings encode as their decimal/text form (so the entity ``7`` is the same key
    whether it came from JSON, Arrow or pandas); composite keys join their parts with
    :data:`KEY_SEPARATOR`.
    """
    if len(values) == 1:
        value = values[0]
        if type(value) is int or type(value) is str:  # the hot path: one plain key
            return str(value)
        return _key_part(value)
    return KEY_SEPARATOR.join([_key_part(v) for v in values])


def pack(row: dict[str, Any]) -> bytes:
    """Feature values as bytes (JSON via orjson; numpy scalars allowed; NaN becomes null)."""
    return orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


unpack = orjson.loads
"""Packed bytes back to a ``{feature: value}`` dict."""
