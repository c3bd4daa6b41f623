"""Operations: each capability's service methods, defined once and exposed everywhere.

A service is a class with a ``capability`` name whose public operations are marked with
:func:`operation`. Their signatures (typed arguments, a record or list of records returned)
are the single definition from which ``treadle.server`` derives its HTTP routes and
``treadle.client`` its remote proxy, so an operation is written once.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class OperationSpec:
    name: str
    summary: str
    parameters: dict[str, inspect.Parameter]
    hints: dict[str, Any]

    @property
    def returns(self) -> Any:
        return self.hints.get("return", type(None))


def operation(fn: F) -> F:
    """Mark a service method as a remotely callable operation."""
    fn.__treadle_operation__ = True  # type: ignore[attr-defined]
    return fn


class Service:
    """Base of capability services; ``capability`` names the route prefix."""

    capability: ClassVar[str]


def operations(service: type[Service]) -> dict[str, OperationSpec]:
    """The operations of a service class, with resolved type hints, in definition order."""
    specs: dict[str, OperationSpec] = {}
    for name, fn in inspect.getmembers(service, inspect.isfunction):
        if not getattr(fn, "__treadle_operation__", False):
            continue
        signature = inspect.signature(fn)
        params = {k: p for k, p in signature.parameters.items() if k != "self"}
        hints = typing.get_type_hints(fn)
        summary = (inspect.getdoc(fn) or name).splitlines()[0]
        specs[name] = OperationSpec(name=name, summary=summary, parameters=params, hints=hints)
    return specs


def body_model(service: type[Service], spec: OperationSpec) -> type[Any]:
    """The pydantic model of an operation's JSON body, built from its signature."""
    from pydantic import ConfigDict, create_model

    from treadle.records import with_int64

    fields: dict[str, Any] = {}
    for name, param in spec.parameters.items():
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (with_int64(spec.hints.get(name, Any)), default)
    model_name = "".join(part.title() for part in f"{service.capability}_{spec.name}".split("_")) + "Request"
    config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")
    return create_model(model_name, __config__=config, **fields)


def result_adapter(spec: OperationSpec) -> Any:
    """A TypeAdapter for an operation's return value that keeps NaN/Infinity in JSON."""
    from pydantic import ConfigDict, PydanticUserError, TypeAdapter

    try:
        return TypeAdapter(spec.returns, config=ConfigDict(ser_json_inf_nan="constants"))
    except PydanticUserError:  # a model carries its own config
        return TypeAdapter(spec.returns)
