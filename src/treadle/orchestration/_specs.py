"""Checks on a pipeline spec and on the params a run is given, before anything is stored.

The SDK traces specs itself and validates them more deeply (types, materializers); these checks
guard the store against hand-built specs and queued runs (webhooks, schedules) with bad params.
"""

from __future__ import annotations

from typing import Any

from treadle.errors import InvalidArgument
from treadle.names import check_name
from treadle.orchestration._records import PipelineSpec


def validate_spec(spec: PipelineSpec) -> None:
    """Unique step names, and every binding names an earlier step's output or a declared param
    (steps come in topological order, so a reference forward is a cycle or a missing step)."""
    check_name(spec.name, "pipeline")
    params = {p.name for p in spec.params}
    if len(params) != len(spec.params):
        raise InvalidArgument(f"pipeline {spec.name!r} declares a param twice")
    seen: dict[str, list[str]] = {}
    for step in spec.steps:
        check_name(step.name, "step")
        if step.name in seen:
            raise InvalidArgument(f"pipeline {spec.name!r} has two steps named {step.name!r}")
        for arg, binding in step.inputs.items():
            where = f"input {arg!r} of step {step.name!r} in pipeline {spec.name!r}"
            if binding.kind == "step":
                if binding.step not in seen:
                    known = "a later step (a cycle?)" if binding.step in {s.name for s in spec.steps} else "no step"
                    raise InvalidArgument(
                        f"{where} comes from step {binding.step!r}, which is {known}: "
                        "steps must be listed producers first"
                    )
                if binding.output not in seen[binding.step]:
                    raise InvalidArgument(
                        f"{where} reads output {binding.output!r} of step {binding.step!r}, "
                        f"which has outputs {seen[binding.step]}"
                    )
            elif binding.kind == "param" and binding.param not in params:
                raise InvalidArgument(f"{where} reads param {binding.param!r}, which the pipeline does not declare")
        for before in step.after:
            if before not in seen:
                raise InvalidArgument(
                    f"step {step.name!r} in pipeline {spec.name!r} runs after {before!r}, which is not an earlier step"
                )
        seen[step.name] = list(step.outputs)


def check_params(spec: PipelineSpec, params: dict[str, Any]) -> None:
    """Unknown params and missing required ones are refused with the list of what the pipeline takes."""
    if not isinstance(params, dict):
        raise InvalidArgument(f"params must be a mapping of name to value, got {type(params).__name__}")
    declared = {p.name: p for p in spec.params}
    takes = ", ".join(f"{p.name}{'' if p.required else '?'}" for p in spec.params) or "none"
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise InvalidArgument(f"pipeline {spec.name!r} has no param {unknown[0]!r} (params: {takes})")
    missing = [p.name for p in spec.params if p.required and p.name not in params]
    if missing:
        raise InvalidArgument(f"pipeline {spec.name!r} needs param {missing[0]!r} (params: {takes})")
