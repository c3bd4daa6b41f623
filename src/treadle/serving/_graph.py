"""Inference graphs at run time: endpoints that call other endpoints (see :mod:`._graph_spec`).

A :class:`GraphEndpoint` answers like any model — OIP, ``/invocations``, metrics, the request log —
but its ``infer`` calls the endpoints its spec names: the models served in the same process
(:class:`~treadle.serving._model.ModelEndpoint`, already started by the server) or other graphs.
Calls stay in-process (no HTTP hop) and ensemble members run concurrently. The graph owns none
of the model endpoints it calls: starting and stopping them is the server's job.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from treadle.errors import InvalidArgument, ModelError
from treadle.serving._graph_spec import Condition, GraphSpec, Node, Step, parse_graphs
from treadle.serving._types import Endpoint, InferRequest, InferResult, Tensors

PREDICT = "predict"
_Call = tuple[Endpoint, list[str] | None]


class GraphEndpoint(Endpoint):
    """One graph; ``resolve`` turns each node of the spec into the endpoint it calls and the outputs
    to ask it for (what :func:`graph_endpoints` passes)."""

    def __init__(self, spec: GraphSpec, resolve: Any) -> None:
        self.spec = spec
        self.name = spec.name
        self._steps: list[_Call] = [resolve(n) for n in spec.steps or []]
        self._members: list[_Call] = [resolve(n) for n in spec.members or []]
        self._final: _Call | None = resolve(spec.final) if spec.final is not None else None
        self._branches: list[tuple[Condition, _Call]] = [(b.when, resolve(b.to)) for b in spec.branches or []]
        self._default: _Call | None = resolve(spec.default) if spec.default is not None else None

    def _calls(self) -> list[_Call]:
        calls = self._steps + self._members + [c for _, c in self._branches]
        return calls + [c for c in (self._final, self._default) if c is not None]

    @property
    def versions(self) -> list[str]:
        return ["1"]

    @property
    def ready(self) -> bool:
        return all(endpoint.ready for endpoint, _ in self._calls())

    def metadata(self) -> dict[str, Any]:
        """OIP metadata: the inputs of the first node(s), the outputs of the last."""
        calls = self._calls()
        first = (self._steps or self._members or [c for _, c in self._branches])[0]
        inputs = list(_safe_meta(first[0]).get("inputs", []))
        for cond, _ in self._branches:
            if cond.input is not None and all(i.get("name") != cond.input for i in inputs):
                inputs.append({"name": cond.input, "datatype": "BYTES", "shape": [-1]})
        if self.spec.kind == "sequence":
            last: _Call = self._steps[-1]
        elif self._final is not None:
            last = self._final
        else:
            last = calls[0]
        outputs = _safe_meta(last[0]).get("outputs", [])
        if last[1]:
            outputs = [o for o in outputs if o.get("name") in last[1]] or [
                {"name": n, "datatype": "FP64", "shape": [-1]} for n in last[1]
            ]
        if self.spec.kind == "ensemble" and self.spec.combine != "stacking":
            member: dict[str, Any] = next((o for o in outputs if o.get("name") == self.spec.output), {})
            datatype = "FP64" if self.spec.combine == "mean" else member.get("datatype", "BYTES")
            outputs = [{"name": self.spec.output, "datatype": datatype, "shape": member.get("shape", [-1])}]
        return {
            "name": self.name,
            "versions": self.versions,
            "platform": f"treadle_graph_{self.spec.kind}",
            "inputs": inputs,
            "outputs": outputs,
        }

    async def start(self) -> None:
        """Nothing to load: the endpoints it calls are started by the server (or by their graph)."""

    async def stop(self) -> None:
        """Nothing to release: the graph owns none of the endpoints it calls."""

    async def infer(self, request: InferRequest) -> InferResult:
        if self.spec.kind == "sequence":
            outputs = await self._sequence(request)
        elif self.spec.kind == "ensemble":
            outputs = await self._ensemble(request)
        else:
            outputs = await self._switch(request)
        if request.outputs:
            missing = [n for n in request.outputs if n not in outputs]
            if missing:
                raise InvalidArgument(
                    f"output {missing[0]!r} does not exist (graph {self.name!r} returns {', '.join(outputs)})"
                )
            outputs = {n: outputs[n] for n in request.outputs}
        return InferResult(outputs=outputs, model_name=self.name, model_version="1")

    # -- the three kinds
    async def _call(
        self, call: _Call, request: InferRequest, inputs: Tensors, outputs: list[str] | None = None
    ) -> Tensors:
        endpoint, wanted = call
        sub = InferRequest(
            inputs=inputs,
            id=request.id,
            outputs=wanted or outputs,
            parameters=request.parameters,
            unit=request.unit,
            protocol=request.protocol,
        )
        return (await endpoint.infer(sub)).outputs

    async def _sequence(self, request: InferRequest) -> Tensors:
        tensors = request.inputs
        for i, call in enumerate(self._steps):
            last = i == len(self._steps) - 1
            tensors = await self._call(call, request, tensors, request.outputs if last else None)
        return tensors

    async def _ensemble(self, request: InferRequest) -> Tensors:
        spec = self.spec
        want = None if spec.combine == "stacking" else [spec.output]
        results = await asyncio.gather(*(self._call(c, request, request.inputs, want) for c in self._members))
        if spec.combine == "stacking":
            assert self._final is not None
            stacked = np.column_stack([_single(r, c[0].name) for r, c in zip(results, self._members, strict=True)])
            return await self._call(self._final, request, {"input": stacked}, request.outputs)
        values = [_pick(r, spec.output, c[0].name) for r, c in zip(results, self._members, strict=True)]
        weights = spec.weights or [1.0] * len(values)
        if spec.combine == "mean":
            try:
                arrays = np.stack([np.asarray(v, dtype=np.float64) for v in values])
            except (ValueError, TypeError) as exc:
                raise ModelError(
                    f"graph {self.name!r}: members' {spec.output!r} outputs cannot be averaged: {exc}"
                ) from exc
            return {spec.output: np.average(arrays, axis=0, weights=weights)}
        return {spec.output: _vote(values, weights)}

    async def _switch(self, request: InferRequest) -> Tensors:
        rows = request.rows
        taken = np.zeros(rows, dtype=bool)
        routes: list[tuple[_Call, np.ndarray]] = []
        for cond, call in self._branches:
            mask = _matches(cond, request) & ~taken
            if mask.any():
                routes.append((call, mask))
                taken |= mask
        if not taken.all():
            if self._default is None:
                row = int(np.flatnonzero(~taken)[0])
                raise InvalidArgument(f"row {row} matches no branch of switch {self.name!r}, which has no default")
            routes.append((self._default, ~taken))
        if len(routes) == 1 and routes[0][1].all():
            return await self._call(routes[0][0], request, request.inputs, request.outputs)
        parts = await asyncio.gather(
            *(
                self._call(call, request, {k: v[mask] for k, v in request.inputs.items()}, request.outputs)
                for call, mask in routes
            )
        )
        return _merge(parts, [mask for _, mask in routes], rows, self.name)


def _safe_meta(endpoint: Endpoint) -> dict[str, Any]:
    try:
        return endpoint.metadata()
    except Exception:  # an endpoint not loaded yet has no metadata to offer
        return {}


def _single(outputs: Tensors, member: str) -> np.ndarray:
    """A member's one output as a 2-D block of columns (the stacking model's input)."""
    value = (
        outputs.get(PREDICT) if PREDICT in outputs else (next(iter(outputs.values())) if len(outputs) == 1 else None)
    )
    if value is None:
        raise ModelError(f"member {member!r} returned several outputs ({', '.join(outputs)}): name one with outputs:")
    arr = np.asarray(value)
    return arr.reshape(len(arr), -1) if arr.ndim != 2 else arr


def _pick(outputs: Tensors, name: str, member: str) -> np.ndarray:
    if name in outputs:
        return outputs[name]
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    raise ModelError(f"member {member!r} returned no output {name!r} (it returned {', '.join(outputs)})")


def _vote(values: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """The (weighted) majority per row; a tie goes to the label the earliest member voted for."""
    rows = len(values[0])
    out: list[Any] = []
    for i in range(rows):
        tally: dict[Any, float] = {}
        order: dict[Any, int] = {}
        for m, (v, w) in enumerate(zip(values, weights, strict=True)):
            label = v[i].item() if isinstance(v[i], np.generic) else v[i]
            tally[label] = tally.get(label, 0.0) + w
            order.setdefault(label, m)
        out.append(max(tally, key=lambda lab: (tally[lab], -order[lab])))
    arr = np.asarray(out)
    return arr if arr.dtype.kind != "U" else arr.astype(object)


def _matches(cond: Condition, request: InferRequest) -> np.ndarray:
    rows = request.rows
    if cond.parameter is not None:
        value = request.parameters.get(cond.parameter)
        return np.full(rows, value is not None and bool(_compare(cond, np.asarray([value], dtype=object))[0]))
    assert cond.input is not None
    if cond.input not in request.inputs:
        raise InvalidArgument(f"input {cond.input!r} is missing: the switch routes each row by it")
    column = np.asarray(request.inputs[cond.input])
    if column.ndim == 2 and column.shape[1] == 1:
        column = column[:, 0]
    if column.ndim != 1:
        raise InvalidArgument(f"input {cond.input!r} has shape {list(column.shape)}, expected [-1]: one value per row")
    return _compare(cond, column)


def _text(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values], dtype=object)
    return values


def _compare(cond: Condition, values: np.ndarray) -> np.ndarray:
    values = _text(values)
    op = cond.op
    try:
        if op == "equals":
            return np.array([v == cond.equals for v in values.tolist()], dtype=bool)
        if op == "not_equals":
            return np.array([v != cond.not_equals for v in values.tolist()], dtype=bool)
        if op == "in_":
            return np.array([v in (cond.in_ or []) for v in values.tolist()], dtype=bool)
        bound = getattr(cond, op)
        numbers = values.astype(np.float64)
        return {"gt": numbers > bound, "ge": numbers >= bound, "lt": numbers < bound, "le": numbers <= bound}[op]
    except (TypeError, ValueError) as exc:
        what = cond.input if cond.input is not None else cond.parameter
        raise InvalidArgument(
            f"{'input' if cond.input else 'parameter'} {what!r} cannot be compared ({op}): {exc}"
        ) from None


def _merge(parts: list[Tensors], masks: list[np.ndarray], rows: int, graph: str) -> Tensors:
    """Put each branch's rows back where they came from."""
    names = list(parts[0])
    if any(list(p) != names for p in parts):
        raise ModelError(f"the branches of switch {graph!r} return different outputs: {[list(p) for p in parts]}")
    out: Tensors = {}
    for name in names:
        arrays = [np.asarray(p[name]) for p in parts]
        dtype = np.result_type(*arrays) if all(a.dtype != object for a in arrays) else np.dtype(object)
        merged = np.empty((rows, *arrays[0].shape[1:]), dtype=dtype)
        for arr, mask in zip(arrays, masks, strict=True):
            if arr.shape[1:] != merged.shape[1:]:
                raise ModelError(f"the branches of switch {graph!r} return {name!r} in different shapes")
            merged[mask] = arr
        out[name] = merged
    return out


def graph_endpoints(specs: list[GraphSpec] | list[dict[str, Any]] | Any, models: dict[str, Endpoint]) -> list[Endpoint]:
    """The graphs of a serving file, over its ``models`` (name → endpoint), in declaration order.

    A node names a model, another graph of the file (declared before or after; cycles are refused)
    or an inline graph. Unknown names and clashes between graph and model names raise InvalidArgument.
    """
    try:
        graphs = parse_graphs(specs)
    except ValueError as exc:
        raise InvalidArgument(f"bad graph spec: {exc}") from None
    by_name: dict[str, GraphSpec] = {}
    for g in graphs:
        if g.name in models or g.name in by_name:
            raise InvalidArgument(f"graph name {g.name!r} is used twice (model and graph names share one namespace)")
        by_name[g.name] = g
    built: dict[str, GraphEndpoint] = {}

    def build(spec: GraphSpec, path: tuple[str, ...]) -> GraphEndpoint:
        if spec.name in path:
            raise InvalidArgument(f"graph {spec.name!r} calls itself: {' -> '.join((*path, spec.name))}")
        if spec.name in built and spec.name in by_name and by_name[spec.name] is spec:
            return built[spec.name]

        def resolve(node: Node) -> _Call:
            step = node if isinstance(node, Step) else Step(model=node)
            if step.graph is not None:
                return build(step.graph, (*path, spec.name)), step.outputs
            assert step.model is not None
            if step.model in models:
                return models[step.model], step.outputs
            if step.model in by_name:
                return build(by_name[step.model], (*path, spec.name)), step.outputs
            known = ", ".join(sorted([*models, *by_name])) or "none"
            raise InvalidArgument(
                f"graph {spec.name!r} names {step.model!r}, which is no model or graph here ({known})"
            )

        endpoint = GraphEndpoint(spec, resolve)
        if by_name.get(spec.name) is spec:
            built[spec.name] = endpoint
        return endpoint

    return [build(g, ()) for g in graphs]
