"""The Open Inference Protocol (KServe V2) codec, with Triton's binary tensor extension.

A request body is JSON, optionally followed by raw tensor bytes: the ``Inference-Header-Content-Length``
header gives the JSON part's size and each binary input carries ``parameters.binary_data_size``;
its bytes follow the JSON in input order. Fixed-size types are read with ``numpy.frombuffer`` (no
copy); ``BYTES`` elements are each a 4-byte little-endian length and that many bytes. JSON ``data``
may be flat (row-major) or nested. Outputs are JSON, or binary where the caller asked for it (the
output's ``parameters.binary_data`` or the request's ``binary_data_output``, which ``tritonclient``
sends when it names no outputs).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from treadle.errors import InvalidArgument
from treadle.serving._datatypes import numpy_dtype, oip_datatype
from treadle.serving._http import json_default
from treadle.serving._types import InferRequest, InferResult

HEADER_LENGTH = "inference-header-content-length"
_LEN = struct.Struct("<I")


@dataclass
class OIPRequest:
    """A decoded request plus how the caller wants each output encoded."""

    request: InferRequest
    binary_outputs: set[str] = field(default_factory=set)
    binary_default: bool = False

    def wants_binary(self, name: str) -> bool:
        return name in self.binary_outputs or self.binary_default


def decode_request(body: bytes, header_length: int | None = None) -> OIPRequest:
    """Parse an infer request body; InvalidArgument (naming the input) for anything malformed."""
    if header_length is not None and not 0 <= header_length <= len(body):
        raise InvalidArgument(
            f"Inference-Header-Content-Length {header_length} is outside the body ({len(body)} bytes)"
        )
    head = body if header_length is None else body[:header_length]
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("the request body must be a JSON object with an 'inputs' list")
    specs = doc.get("inputs")
    if not isinstance(specs, list) or not specs:
        raise InvalidArgument("the request needs a non-empty 'inputs' list")
    offset = 0 if header_length is None else header_length
    inputs: dict[str, np.ndarray] = {}
    for spec in specs:
        name, arr, offset = _decode_input(spec, body, offset, header_length is not None)
        if name in inputs:
            raise InvalidArgument(f"input {name!r} is given twice")
        inputs[name] = arr
    if header_length is not None and offset != len(body):
        raise InvalidArgument(
            f"the body has {len(body) - offset} bytes after the binary inputs; check each binary_data_size"
        )
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise InvalidArgument("'parameters' must be a JSON object")
    outputs, binary = _requested_outputs(doc.get("outputs"))
    rid = doc.get("id")
    unit = params.get("unit")
    request = InferRequest(
        inputs=inputs,
        id=None if rid is None else str(rid),
        outputs=outputs,
        parameters=params,
        unit=None if unit is None else str(unit),
        protocol="v2",
    )
    return OIPRequest(request, binary, bool(params.get("binary_data_output", False)))


def _requested_outputs(specs: Any) -> tuple[list[str] | None, set[str]]:
    if specs is None:
        return None, set()
    if not isinstance(specs, list):
        raise InvalidArgument("'outputs' must be a list of {name: ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise InvalidArgument("each requested output needs a 'name'")
        names.append(spec["name"])
        params = spec.get("parameters") or {}
        if isinstance(params, dict) and params.get("binary_data"):
            binary.add(spec["name"])
    return names or None, binary


def _decode_input(spec: Any, body: bytes, offset: int, has_binary: bool) -> tuple[str, np.ndarray, int]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise InvalidArgument("each input needs a 'name' (string), 'shape' and 'datatype'")
    name: str = spec["name"]
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidArgument(f"input {name!r} needs 'shape', a list of non-negative integers (got {shape!r})")
    datatype = spec.get("datatype")
    if not isinstance(datatype, str):
        raise InvalidArgument(f"input {name!r} needs a 'datatype' such as FP32, INT64 or BYTES")
    dtype = numpy_dtype(datatype, name)
    count = math.prod(shape)
    params = spec.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if not has_binary:
            raise InvalidArgument(
                f"input {name!r} has binary_data_size but the request has no Inference-Header-Content-Length header"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidArgument(f"input {name!r}: binary_data_size must be a byte count, got {size!r}")
        if offset + size > len(body):
            raise InvalidArgument(f"input {name!r}: binary_data_size {size!r} runs past the end of the body")
        raw = body[offset : offset + size]
        arr = _from_binary(raw, dtype, count, name, datatype)
        return name, arr.reshape(shape), offset + size
    if "data" not in spec:
        raise InvalidArgument(f"input {name!r} has neither 'data' nor parameters.binary_data_size")
    return name, _from_json(spec["data"], dtype, count, shape, name, datatype), offset


def _from_binary(raw: bytes, dtype: np.dtype[Any], count: int, name: str, datatype: str) -> np.ndarray:
    if dtype.kind != "O":
        if len(raw) != count * dtype.itemsize:
            raise InvalidArgument(
                f"input {name!r}: {len(raw)} bytes of binary data, expected {count * dtype.itemsize} "
                f"({count} {datatype} elements of {dtype.itemsize} bytes)"
            )
        if dtype.kind == "b" and raw and int(np.frombuffer(raw, np.uint8).max()) > 1:
            raise InvalidArgument(f"input {name!r} is BOOL: each binary element must be the byte 0 or 1")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype)
    items: list[bytes] = []
    pos, end = 0, len(raw)
    while pos < end:
        if pos + 4 > end:
            raise InvalidArgument(f"input {name!r}: BYTES data ends inside an element's 4-byte length")
        (n,) = _LEN.unpack_from(raw, pos)
        pos += 4
        if pos + n > end:
            raise InvalidArgument(f"input {name!r}: a BYTES element of {n} bytes runs past its binary data")
        items.append(raw[pos : pos + n])
        pos += n
    if len(items) != count:
        raise InvalidArgument(f"input {name!r}: {len(items)} BYTES elements, but its shape holds {count}")
    out = np.empty(count, dtype=object)
    out[:] = items
    return out


def _from_json(data: Any, dtype: np.dtype[Any], count: int, shape: list[int], name: str, datatype: str) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    try:
        if dtype.kind == "O":
            flat = _flatten(data)
            if not all(isinstance(v, str) for v in flat):
                raise InvalidArgument(f"input {name!r} is BYTES: its JSON data must be strings")
            arr = np.empty(len(flat), dtype=object)
            arr[:] = flat
        else:
            raw = np.asarray(data)
            arr = _cast_json(raw, data, dtype, name, datatype)
    except ValueError as exc:
        raise InvalidArgument(f"input {name!r}: data cannot be read as {datatype} ({exc})") from None
    if arr.size != count:
        raise InvalidArgument(f"input {name!r} has {arr.size} elements, but shape {shape} holds {count}")
    return arr.reshape(shape)


def _flatten(data: list[Any]) -> list[Any]:
    if not any(isinstance(v, list) for v in data):
        return data
    out: list[Any] = []
    for v in data:
        out.extend(_flatten(v) if isinstance(v, list) else [v])
    return out


def _cast_json(raw: np.ndarray, data: Any, dtype: np.dtype[Any], name: str, datatype: str) -> np.ndarray:
    """JSON numbers as ``dtype``, refusing what would change a value (1.5 as INT64, 300 as UINT8)."""
    kind = raw.dtype.kind
    if raw.size == 0:
        return raw.astype(dtype)
    if kind not in "biuf":
        got = "strings" if kind in "US" else "nulls, objects or mixed types"
        raise InvalidArgument(f"input {name!r} is {datatype}: its JSON data must be numbers (got {got})")
    if dtype.kind == "b":
        if kind == "b" or (kind in "iu" and bool(np.isin(raw, (0, 1)).all())):
            return raw.astype(bool)
        raise InvalidArgument(f"input {name!r} is BOOL: its JSON data must be true/false")
    if dtype.kind in "iu":
        if kind == "f" and not bool(np.equal(np.mod(raw, 1), 0).all()):
            raise InvalidArgument(f"input {name!r} is {datatype}: its JSON data has fractional numbers")
        info = np.iinfo(dtype)
        if raw.min() < info.min or raw.max() > info.max:
            raise InvalidArgument(f"input {name!r} has values outside the range of {datatype}")
        if kind == "f":  # big integers numpy read as floats: convert the exact JSON integers instead
            try:
                return np.array(data, dtype=dtype)
            except (OverflowError, ValueError, TypeError):
                raise InvalidArgument(f"input {name!r} has values outside the range of {datatype}") from None
    with np.errstate(over="ignore"):
        out = raw.astype(dtype)
    if dtype.kind == "f" and dtype.itemsize < raw.dtype.itemsize and bool(np.isinf(out).any()):
        raise InvalidArgument(f"input {name!r} has values outside the range of {datatype}")
    return out


# ---------------------------------------------------------------------- responses


def _tensor_out(arr: np.ndarray) -> tuple[np.ndarray, str]:
    """An output as a contiguous array and its OIP datatype (object arrays of numbers become numbers)."""
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind == "O" and arr.size and not isinstance(arr.flat[0], (str, bytes)):
        try:
            converted = np.asarray(arr.tolist())
        except ValueError:
            converted = arr
        if converted.dtype.kind in "biuf":
            arr = converted
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    datatype = oip_datatype(arr.dtype)
    if datatype == "BYTES" and arr.dtype.kind != "O":
        arr = arr.astype(object)
    return np.ascontiguousarray(arr), datatype


def _bytes_items(arr: np.ndarray) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode() for v in arr.reshape(-1)]


def _json_items(arr: np.ndarray) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.reshape(-1)]


def encode_response(result: InferResult, request: OIPRequest) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary outputs, the JSON part's length for the header."""
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, value in result.outputs.items():
        arr, datatype = _tensor_out(np.asarray(value))
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(arr.shape)}
        if request.wants_binary(name):
            if datatype == "BYTES":
                raw = b"".join(_LEN.pack(len(b)) + b for b in _bytes_items(arr))
            else:
                raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        elif datatype == "BYTES":
            entry["data"] = _json_items(arr)
        else:
            entry["data"] = arr.reshape(-1)
        outputs.append(entry)
    doc: dict[str, Any] = {"model_name": result.model_name, "model_version": result.model_version}
    if request.request.id is not None:
        doc["id"] = request.request.id
    if result.parameters:
        doc["parameters"] = result.parameters
    doc["outputs"] = outputs
    head = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY, default=json_default)
    if not blobs:
        return head, None
    return b"".join([head, *blobs]), len(head)
