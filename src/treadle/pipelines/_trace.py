"""Tracing a ``@pipeline`` body into a static DAG.

The body runs once with symbolic parameters (:class:`ParamRef`); each step call records a
:class:`~treadle.orchestration.StepSpec` and returns :class:`Handle` objects standing for its
outputs. Nothing real flows, so control flow on values (``if param:``, ``for x in handle``) raises
at once: the DAG must be static, known before the run. Type annotations are checked here, where
the real types are still at hand: a producer's output type must fit the consumer's parameter.
"""

from __future__ import annotations

import contextvars
import inspect
import json
import typing
from typing import Any

from treadle.errors import InvalidArgument
from treadle.orchestration._records import InputBinding, StepSpec
from treadle.pipelines._step import Step, type_name

_TRACER: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("treadle_tracer", default=None)

STATIC = (
    "the pipeline's DAG is static: it is traced once before the run, with symbolic values. "
    "Move the decision into a step (steps receive real values)"
)


def current_tracer() -> Tracer | None:
    return _TRACER.get()


class _Symbol:
    """Shared behaviour of symbolic values: any attempt to use the value itself explains why not."""

    def _what(self) -> str:
        raise NotImplementedError

    def __bool__(self) -> bool:
        raise InvalidArgument(f"cannot test {self._what()} with if/and/or in a pipeline body: {STATIC}")

    def __iter__(self) -> Any:
        raise InvalidArgument(f"cannot iterate over {self._what()} in a pipeline body: {STATIC}")

    def __len__(self) -> int:
        raise InvalidArgument(f"cannot take len() of {self._what()} in a pipeline body: {STATIC}")

    def __index__(self) -> int:
        raise InvalidArgument(f"cannot use {self._what()} as a number in a pipeline body: {STATIC}")

    def __getitem__(self, key: Any) -> Any:
        raise InvalidArgument(
            f"cannot index {self._what()} in a pipeline body: {STATIC} "
            "(for several outputs give the step outputs=(...) and unpack the call)"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise InvalidArgument(f"cannot read .{name} of {self._what()} in a pipeline body: {STATIC}")


class Handle(_Symbol):
    """One output of a traced step call."""

    def __init__(self, step: str, output: str, annotation: Any) -> None:
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_output", output)
        object.__setattr__(self, "_annotation", annotation)

    def _what(self) -> str:
        return f"the output {self._output!r} of step {self._step!r}"

    def __repr__(self) -> str:
        return f"<output {self._step}.{self._output}>"


class ParamRef(_Symbol):
    """A pipeline parameter while tracing."""

    def __init__(self, name: str, annotation: Any) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_annotation", annotation)

    def _what(self) -> str:
        return f"the pipeline parameter {self._name!r}"

    def __repr__(self) -> str:
        return f"<param {self._name}>"


def is_json(value: Any) -> bool:
    """True for values JSON keeps exactly (tuples, sets and non-str keys do not survive)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json(v) for k, v in value.items())
    return False


def _plain(tp: Any) -> type | None:
    """The class an annotation checks against, or None when it is too loose to check."""
    if tp is inspect.Parameter.empty or tp is Any or tp is None:
        return None
    origin = typing.get_origin(tp)
    if origin is not None:
        # list[int] -> list; Union and `X | None` (whose origin, types.UnionType, is a class) -> unchecked
        return origin if isinstance(origin, type) and origin.__name__ != "UnionType" else None
    return tp if isinstance(tp, type) else None


def compatible(produced: Any, wanted: Any) -> bool:
    """Can a value annotated ``produced`` go where ``wanted`` is expected? Unknown means yes."""
    a, b = _plain(produced), _plain(wanted)
    if a is None or b is None:
        return True
    if b is float and a is int:
        return True
    return issubclass(a, b)


def value_fits(value: Any, wanted: Any) -> bool:
    b = _plain(wanted)
    if b is None or value is None:
        return True
    if b is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, b)


class Tracer:
    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.steps: list[StepSpec] = []
        self.objects: dict[str, Step] = {}

    def __enter__(self) -> Tracer:
        self._token = _TRACER.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _TRACER.reset(self._token)

    def _unique(self, base: str) -> str:
        if base not in self.objects:
            return base
        n = 2
        while f"{base}_{n}" in self.objects:
            n += 1
        return f"{base}_{n}"

    def call(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name = self._unique(step.name)
        try:
            bound = step.signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgument(f"step {name!r} in pipeline {self.pipeline!r}: {exc}") from None
        inputs: dict[str, InputBinding] = {}
        input_types: dict[str, str] = {}
        for arg, param in step.signature.parameters.items():
            wanted = step.hints.get(arg, inspect.Parameter.empty)
            if wanted is not inspect.Parameter.empty:
                input_types[arg] = type_name(wanted)
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise InvalidArgument(f"step {name!r}: *args/**kwargs parameters cannot be traced; name each input")
            if arg not in bound.arguments:
                if param.default is inspect.Parameter.empty:
                    raise InvalidArgument(
                        f"step {name!r} in pipeline {self.pipeline!r} is missing input {arg!r}: "
                        "pass it an upstream step's output, a pipeline parameter or a constant"
                    )
                continue  # the function's own default applies
            inputs[arg] = self._bind(name, arg, bound.arguments[arg], wanted)
        self.objects[name] = step
        output_types = step.output_types()
        self.steps.append(
            StepSpec(
                name=name,
                function=f"{step.fn.__module__}:{step.fn.__qualname__}",
                code_digest=step.code_digest,
                inputs=inputs,
                outputs=list(step.outputs),
                input_types=input_types,
                output_types={k: type_name(v) for k, v in output_types.items() if v is not inspect.Parameter.empty},
                cache=step.cache,
                reads_mutable=step.reads_mutable,
                cache_version=step.cache_version,
                retries=step.retries,
                retry_delay_s=step.retry_delay_s,
                backoff=step.backoff,
                timeout_s=step.timeout_s,
                resources=step.resources,
                requirements=step.requirements,
                doc=inspect.getdoc(step.fn),
            )
        )
        handles = [Handle(name, out, output_types[out]) for out in step.outputs]
        return handles[0] if len(handles) == 1 else tuple(handles)

    def _bind(self, step: str, arg: str, value: Any, wanted: Any) -> InputBinding:
        where = f"input {arg!r} of step {step!r} in pipeline {self.pipeline!r}"
        if isinstance(value, Handle):
            if not compatible(value._annotation, wanted):
                raise InvalidArgument(
                    f"type mismatch: {where} expects {type_name(wanted)} but step {value._step!r} "
                    f"output {value._output!r} is {type_name(value._annotation)}"
                )
            return InputBinding(kind="step", step=value._step, output=value._output)
        if isinstance(value, ParamRef):
            if not compatible(value._annotation, wanted):
                raise InvalidArgument(
                    f"type mismatch: {where} expects {type_name(wanted)} but pipeline parameter "
                    f"{value._name!r} is {type_name(value._annotation)}"
                )
            return InputBinding(kind="param", param=value._name)
        if isinstance(value, (tuple, list, dict)) and _has_symbol(value):
            raise InvalidArgument(
                f"{where} is a container holding step outputs or parameters; pass each as its own argument"
            )
        if not is_json(value):
            raise InvalidArgument(
                f"{where} is a constant {type(value).__name__}, which a pipeline spec cannot hold "
                "(constants must be JSON: numbers, strings, lists, dicts); make it a step's output or a parameter"
            )
        if not value_fits(value, wanted):
            raise InvalidArgument(f"type mismatch: {where} expects {type_name(wanted)}, got constant {value!r}")
        json.dumps(value)
        return InputBinding(kind="value", value=value)


def _has_symbol(value: Any) -> bool:
    if isinstance(value, _Symbol):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_symbol(v) for v in value)
    if isinstance(value, dict):
        return any(_has_symbol(v) for v in value.values())
    return False


def output_template(value: Any, pipeline: str) -> Any:
    """The body's return value as JSON with ``{"$ref": "step.output"}`` for step outputs."""
    if isinstance(value, Handle):
        return {"$ref": f"{value._step}.{value._output}"}
    if isinstance(value, ParamRef):
        return {"$param": value._name}
    if isinstance(value, (tuple, list)):
        return [output_template(v, pipeline) for v in value]
    if isinstance(value, dict):
        return {str(k): output_template(v, pipeline) for k, v in value.items()}
    if is_json(value):
        return value
    raise InvalidArgument(
        f"pipeline {pipeline!r} returns a {type(value).__name__}: return step outputs, or JSON constants"
    )
