"""Open Inference Protocol datatypes and their numpy counterparts.

The protocol names tensor element types ``BOOL``, ``UINT8``..``UINT64``, ``INT8``..``INT64``,
``FP16``, ``FP32``, ``FP64`` and ``BYTES`` (variable-length byte strings). Numpy holds BYTES as
object arrays of ``bytes`` (or ``str`` when they came as JSON strings), as Triton's client does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from treadle.errors import InvalidArgument

TO_NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_FROM_NUMPY: dict[str, str] = {dt.name: name for name, dt in TO_NUMPY.items() if name != "BYTES"}


def numpy_dtype(datatype: str, name: str) -> np.dtype[Any]:
    """The numpy dtype of OIP ``datatype``; InvalidArgument naming the tensor when unknown."""
    try:
        return TO_NUMPY[datatype.upper()]
    except (KeyError, AttributeError):
        known = ", ".join(TO_NUMPY)
        raise InvalidArgument(f"input {name!r} has unknown datatype {datatype!r} (expected one of {known})") from None


def oip_datatype(dtype: Any) -> str:
    """The OIP datatype for a numpy dtype or a signature dtype name (``string``/``category`` → BYTES)."""
    if isinstance(dtype, str) and dtype in ("string", "category"):
        return "BYTES"
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return "BYTES"
    return _FROM_NUMPY.get(dt.name, "BYTES")
