"""Inference graphs as data: a sequence, an ensemble or a switch over models served beside them.

A serving file (``treadle serve FILE.yaml``) declares ``models:`` and ``graphs:``; each graph's
nodes name a model of that file, another graph of that file, or an inline graph::

    graphs:
      - name: scored                       # sequence: each step's outputs are the next step's inputs
        kind: sequence
        steps: [embed, {model: classifier, outputs: [predict_proba]}]
      - name: forest                       # ensemble: members run concurrently on the same inputs
        kind: ensemble
        members: [tree_a, tree_b, tree_c]
        combine: vote                      # mean | vote | stacking (with final: MODEL)
      - name: by_country                   # switch: rows (or whole requests) routed by a condition
        kind: switch
        branches:
          - when: {input: country, equals: DE}
            to: model_de
          - when: {parameter: tier, in: [gold, platinum]}
            to: model_premium
        default: model_global

``input`` conditions are evaluated per row (rows of one request may take different branches and
come back in their order); ``parameter`` conditions look at the request's ``parameters``. The same
specs can be built in Python: ``GraphSpec(name="forest", kind="ensemble", members=["a", "b"])``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from treadle.names import check_name
from treadle.records import Record


class Condition(Record):
    """``input`` (a per-row test on an input column) or ``parameter`` (a test on a request parameter),
    compared with exactly one of ``equals``, ``not_equals``, ``in``, ``gt``, ``ge``, ``lt``, ``le``."""

    input: str | None = None
    parameter: str | None = None
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    @model_validator(mode="after")
    def _one_each(self) -> Condition:
        if (self.input is None) == (self.parameter is None):
            raise ValueError("a condition names exactly one of input: COLUMN or parameter: NAME")
        ops = [op for op in ("equals", "not_equals", "in_", "gt", "ge", "lt", "le") if getattr(self, op) is not None]
        if len(ops) != 1:
            raise ValueError(f"a condition needs exactly one of equals, not_equals, in, gt, ge, lt, le (got {ops})")
        return self

    @property
    def op(self) -> str:
        return next(
            op for op in ("equals", "not_equals", "in_", "gt", "ge", "lt", "le") if getattr(self, op) is not None
        )


class Step(Record):
    """One node with options: ``model`` (a model or graph name) or ``graph`` (an inline graph), and
    the ``outputs`` to ask it for (default: its default output)."""

    model: str | None = None
    graph: GraphSpec | None = None
    outputs: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        if (self.model is None) == (self.graph is None):
            raise ValueError("a step names exactly one of model: NAME or graph: {...}")
        return self


Node = str | Step


class Branch(Record):
    when: Condition
    to: Node


class GraphSpec(Record):
    """One inference graph (see the module docstring for the YAML form)."""

    name: str
    kind: Literal["sequence", "ensemble", "switch"]
    steps: list[Node] | None = None
    members: list[Node] | None = None
    combine: Literal["mean", "vote", "stacking"] = "mean"
    output: str = "predict"  # the member output the ensemble combines
    weights: list[float] | None = None
    final: Node | None = None  # stacking: fed one 2-D tensor, the members' outputs side by side
    branches: list[Branch] | None = None
    default: Node | None = None

    @model_validator(mode="after")
    def _shape(self) -> GraphSpec:
        check_name(self.name, "graph")
        wanted = {"sequence": "steps", "ensemble": "members", "switch": "branches"}[self.kind]
        for key in ("steps", "members", "branches"):
            given = getattr(self, key)
            if key == wanted and not given:
                raise ValueError(f"a {self.kind} graph needs a non-empty {key!r} list")
            if key != wanted and given is not None:
                raise ValueError(f"{key!r} belongs to a {_kind_of(key)} graph, not a {self.kind}")
        if self.kind == "ensemble":
            assert self.members is not None
            if self.combine == "stacking" and self.final is None:
                raise ValueError("combine: stacking needs final: MODEL (fed the members' outputs)")
            if self.combine != "stacking" and self.final is not None:
                raise ValueError("final: is only used with combine: stacking")
            if self.weights is not None and len(self.weights) != len(self.members):
                raise ValueError(f"weights has {len(self.weights)} entries for {len(self.members)} members")
        elif self.final is not None or self.weights is not None:
            raise ValueError("final and weights belong to ensemble graphs")
        if self.kind != "switch" and self.default is not None:
            raise ValueError("default: belongs to switch graphs")
        return self

    def nodes(self) -> list[Node]:
        """Every node this graph calls directly."""
        out: list[Node] = list(self.steps or []) + list(self.members or [])
        out += [b.to for b in self.branches or []]
        out += [n for n in (self.final, self.default) if n is not None]
        return out


def _kind_of(key: str) -> str:
    return {"steps": "sequence", "members": "ensemble", "branches": "switch"}[key]


Step.model_rebuild()


def parse_graphs(data: Any) -> list[GraphSpec]:
    """Graph specs from a serving file's ``graphs:`` value: a list of mappings (or of GraphSpecs)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("graphs: must be a list of graph specs")
    return [g if isinstance(g, GraphSpec) else GraphSpec.model_validate(g) for g in data]
