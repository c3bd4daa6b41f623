"""The A/B unit of a request: where it comes from, and keeping it away from the model.

A sticky A/B test hashes one value per request (a user id, a session) to pick the variant. Callers
send it the way that suits them: the ``x-treadle-unit`` header or a ``unit`` request parameter (the
server puts either into ``InferRequest.unit``), a parameter named after the test's ``unit_key``, or an
input column of that name (every row the same unit: one request goes to one variant). The column is
routing data, not a feature, so it is removed before the variant's model sees the request, unless
that model declares an input of the same name.
"""

from __future__ import annotations

from typing import Any

from treadle.errors import InvalidArgument
from treadle.rollout import DeploymentSpec
from treadle.serving._types import Endpoint, InferRequest


def request_unit(deployment: str, spec: DeploymentSpec, request: InferRequest) -> str | None:
    """The unit the router hashes (None when the request has none; the router then says what is missing)."""
    if spec.ab is None or request.unit:
        return request.unit
    key = spec.ab.unit_key
    value = request.parameters.get(key)
    if value is None and key in request.inputs:
        distinct = {_text(v) for v in request.inputs[key].reshape(-1).tolist()}
        if len(distinct) > 1:
            raise InvalidArgument(
                f"input {key!r} holds {len(distinct)} different units; deployment {deployment!r} routes a "
                f"whole request to one variant, so send one {key} per request"
            )
        value = next(iter(distinct), None)
    return None if value is None else _text(value)


def without_unit(spec: DeploymentSpec, declared: set[str], request: InferRequest) -> InferRequest:
    """``request`` without the A/B unit column, unless the model takes it (``declared`` inputs)."""
    ab = spec.ab
    if ab is None or ab.unit_key not in request.inputs or ab.unit_key in declared:
        return request
    inputs = {k: v for k, v in request.inputs.items() if k != ab.unit_key}
    if not inputs:
        raise InvalidArgument(f"the request has no inputs besides the A/B unit {ab.unit_key!r}")
    return InferRequest(
        inputs=inputs,
        id=request.id,
        outputs=request.outputs,
        parameters=request.parameters,
        unit=request.unit,
        protocol=request.protocol,
    )


def declared_inputs(endpoint: Endpoint) -> set[str]:
    """The input names a loaded model's metadata lists (empty when it lists none)."""
    try:
        return {str(i["name"]) for i in endpoint.metadata().get("inputs", [])}
    except Exception:
        return set()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
