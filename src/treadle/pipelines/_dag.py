"""Checks and graph helpers on a :class:`PipelineSpec`, run before anything executes.

Traced specs are acyclic by construction; specs built by hand (or edited JSON) are not, so
cycles, dangling references and bad params are found here with messages that name the step.
"""

from __future__ import annotations

import graphlib
from typing import Any

from treadle.errors import InvalidArgument
from treadle.orchestration._records import PipelineSpec, StepSpec

_BUILTIN = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}


def dependencies(step: StepSpec) -> set[str]:
    """The steps this one waits for: producers of its inputs plus ``after``."""
    deps = {b.step for b in step.inputs.values() if b.kind == "step" and b.step}
    return deps | set(step.after)


def check_spec(spec: PipelineSpec) -> PipelineSpec:
    """Validate the DAG and return the spec with steps in a topological order."""
    by_name: dict[str, StepSpec] = {}
    for step in spec.steps:
        if step.name in by_name:
            raise InvalidArgument(f"pipeline {spec.name!r} has two steps named {step.name!r}")
        by_name[step.name] = step
    params = {p.name for p in spec.params}
    for step in spec.steps:
        for arg, b in step.inputs.items():
            where = f"input {arg!r} of step {step.name!r}"
            if b.kind == "step":
                if b.step not in by_name:
                    raise InvalidArgument(f"{where} comes from step {b.step!r}, which pipeline {spec.name!r} lacks")
                if b.output not in by_name[b.step].outputs:
                    raise InvalidArgument(
                        f"{where} reads output {b.output!r} of step {b.step!r}, "
                        f"which has outputs {by_name[b.step].outputs}"
                    )
            elif b.kind == "param" and b.param not in params:
                raise InvalidArgument(f"{where} reads parameter {b.param!r}, which pipeline {spec.name!r} lacks")
        for before in step.after:
            if before not in by_name:
                raise InvalidArgument(f"step {step.name!r} runs after {before!r}, which pipeline {spec.name!r} lacks")
    sorter = graphlib.TopologicalSorter({s.name: dependencies(s) for s in spec.steps})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise InvalidArgument(f"pipeline {spec.name!r} has a cycle: {cycle}; a pipeline must be a DAG") from None
    return spec.model_copy(update={"steps": [by_name[n] for n in order]})


def descendants(spec: PipelineSpec, name: str) -> set[str]:
    """Every step that (transitively) depends on ``name``."""
    children: dict[str, set[str]] = {s.name: set() for s in spec.steps}
    for s in spec.steps:
        for dep in dependencies(s):
            children[dep].add(s.name)
    found: set[str] = set()
    todo = [name]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def resolve_params(spec: PipelineSpec, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in; unknown, missing and wrongly typed params refused before the run."""
    declared = {p.name: p for p in spec.params}
    takes = ", ".join(f"{p.name}{'' if p.required else '=' + repr(p.default)}" for p in spec.params) or "none"
    for key in given:
        if key not in declared:
            raise InvalidArgument(f"pipeline {spec.name!r} has no parameter {key!r} (it takes: {takes})")
    resolved: dict[str, Any] = {}
    for p in spec.params:
        if p.name in given:
            value = given[p.name]
        elif p.required:
            raise InvalidArgument(f"pipeline {spec.name!r} needs parameter {p.name!r} (it takes: {takes})")
        else:
            value = p.default
        want = _BUILTIN.get(p.type or "")
        if want is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # `--param tag=3` on the CLI reads 3 as JSON; the pipeline wants text
        if want is not None and value is not None:
            ok = isinstance(value, want) or (want is float and isinstance(value, int))
            if not ok or (want is int and isinstance(value, bool)):
                raise InvalidArgument(
                    f"parameter {p.name!r} of pipeline {spec.name!r} is {p.type}, got {type(value).__name__} {value!r}"
                )
        resolved[p.name] = value
    return resolved
