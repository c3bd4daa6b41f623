"""What an evaluation page shows beyond the raw metrics: the baseline comparison, the gate's checks
(from ``evaluation/blessing.json``), slice row counts (from ``evaluation/report.json``), explanations
(``evaluation/explanations.json``) and the model/dataset versions the run read (lineage).

The artifacts are read defensively: a field that is missing or of an unexpected shape is left out
of the page rather than failing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from treadle.errors import NotFound
from treadle.ui._charts_svg import bars
from treadle.ui._evaluations_data import Evaluation, lower_is_better, order_metrics
from treadle.ui._feature_lineage import Link, link_of

if TYPE_CHECKING:
    from treadle.client._backend import Backend

MAX_ROWS = 50  # explained rows shown


@dataclass(frozen=True)
class Change:
    metric: str
    value: float | None
    baseline: float | None
    delta: float | None
    relative: float | None  # delta / |baseline|
    verdict: str  # better | worse | same | ""


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _floats(raw: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in raw.items() if _num(v) is not None} if isinstance(raw, dict) else {}


def changes(ev: Evaluation, report: Any) -> list[Change]:
    """Each overall metric next to the baseline's on the same data, and which way it moved (the
    report's names, e.g. ``ndcg@10``, when there is one; else the run's metric keys)."""
    overall, baseline = ev.overall, ev.baseline
    if isinstance(report, dict) and isinstance(report.get("metrics"), dict):
        overall, baseline = _floats(report["metrics"]), _floats(report.get("baseline"))
    out = []
    for metric in order_metrics(set(overall) | set(baseline)):
        value, base = overall.get(metric), baseline.get(metric)
        delta = rel = None
        verdict = ""
        if value is not None and base is not None and math.isfinite(value) and math.isfinite(base):
            delta = value - base
            rel = delta / abs(base) if base else None
            better = (delta < 0) == lower_is_better(metric)
            verdict = "same" if delta == 0 else ("better" if better else "worse")
        out.append(Change(metric, value, base, delta, rel, verdict))
    return out


def pretty_slice(key: str) -> str:
    """A slice's metric-key form back to its label: ``region:EU/segment:b`` -> ``region=EU, segment=b``."""
    return ", ".join(part.replace(":", "=", 1) for part in key.split("/"))


@dataclass(frozen=True)
class Cell:
    value: float | None
    delta: float | None = None
    verdict: str = ""


@dataclass(frozen=True)
class SliceRow:
    label: str
    rows: int | None
    gated: bool | None  # False: too few rows for the gate
    cells: dict[str, Cell]


def _cell(metric: str, value: float | None, base: float | None) -> Cell:
    if value is None or base is None or not (math.isfinite(value) and math.isfinite(base)):
        return Cell(value)
    delta = value - base
    verdict = "same" if delta == 0 else ("better" if (delta < 0) == lower_is_better(metric) else "worse")
    return Cell(value, delta, verdict)


def slice_rows(ev: Evaluation, report: Any) -> tuple[list[str], list[SliceRow]]:
    """(metric names, one row per slice with its row count and change against the baseline's slice),
    from the report when it has slices, else from the run's ``slice/...`` metrics."""
    raw = report.get("slices") if isinstance(report, dict) else None
    rows: list[SliceRow] = []
    if isinstance(raw, dict) and raw:
        for label, s in raw.items():
            if not isinstance(s, dict):
                continue
            metrics = {str(k): v for k, v in (s.get("metrics") or {}).items() if _num(v) is not None or v is None}
            base = _floats(s.get("baseline"))
            n = _num(s.get("rows"))
            gated = s.get("gated")
            cells = {m: _cell(m, _num(v), base.get(m)) for m, v in metrics.items()}
            rows.append(SliceRow(str(label), int(n) if n is not None else None,
                                 gated if isinstance(gated, bool) else None, cells))  # fmt: skip
    else:
        for key, metrics in ev.slices.items():
            rows.append(SliceRow(pretty_slice(key), None, None, {m: Cell(v) for m, v in metrics.items()}))
    names = order_metrics({m for r in rows for m in r.cells})
    return names, rows


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    message: str


def gate(blessing: Any) -> tuple[bool | None, list[Check], list[str]]:
    """(passed, its checks, reasons) from ``blessing.json``; (None, [], []) when there is none."""
    if not isinstance(blessing, dict):
        return None, [], []
    passed = blessing.get("passed", blessing.get("blessed"))
    checks = []
    for c in blessing.get("checks") or []:
        if not isinstance(c, dict):
            continue
        metric = str(c.get("metric", c.get("name", "")))
        where = c.get("slice")
        kind = f" {c['kind']}" if c.get("kind") else ""
        name = f"{metric}{kind}" + (f" [{where}]" if where and where != "overall" else "")
        message = str(c.get("message") or c.get("reason") or "")
        checks.append(Check(name, bool(c.get("passed")), message))
    reasons = [str(r) for r in blessing.get("reasons") or [] if r]
    return (passed if isinstance(passed, bool) else None), checks, reasons


@dataclass(frozen=True)
class ShapRow:
    """One explained prediction: its row index, the base value, which class, and per column
    (SHAP value, the feature's value)."""

    index: Any
    base: float | None
    label: str | None
    cells: dict[str, tuple[float | None, Any]]


@dataclass
class Explanations:
    method: str
    metric: str | None = None  # the score permutation importance watched
    importance: Markup | None = None  # permutation importance, or SHAP mean |value|
    explainer: str | None = None  # SHAP: tree | linear
    shap_columns: list[str] | None = None
    shap_rows: list[ShapRow] | None = None
    example_columns: list[str] | None = None
    examples: list[dict[str, Any]] | None = None  # the first rows' inputs and prediction


def _importance(raw: Any) -> dict[str, tuple[float, float | None]]:
    """column -> (mean, std or None) from ``{col: {"mean", "std"}}``, ``{col: [mean, std]}`` or ``{col: v}``."""
    out: dict[str, tuple[float, float | None]] = {}
    if not isinstance(raw, dict):
        return out
    for col, v in raw.items():
        if isinstance(v, list | tuple) and v and _num(v[0]) is not None:
            out[str(col)] = (float(v[0]), _num(v[1]) if len(v) > 1 else None)
        elif isinstance(v, dict) and _num(v.get("mean")) is not None:
            out[str(col)] = (float(v["mean"]), _num(v.get("std")))
        elif _num(v) is not None:
            out[str(col)] = (float(v), None)
    return {k: v for k, v in out.items() if math.isfinite(v[0])}


def _records(raw: Any) -> list[dict[str, Any]]:
    return [r for r in raw if isinstance(r, dict)][:MAX_ROWS] if isinstance(raw, list) else []


def explanations(raw: Any) -> Explanations | None:
    """Importance bars, per-row SHAP values and the example predictions, from ``explanations.json``
    (``{"method": "permutation", "metric", "importance", "rows"}`` or
    ``{"method": "shap", "explainer", "global", "rows", "predictions"}``)."""
    if not isinstance(raw, dict):
        return None
    method = str(raw.get("method") or ("shap" if "global" in raw else "permutation"))
    out = Explanations(method=method, metric=str(raw["metric"]) if raw.get("metric") else None)
    if method == "shap":
        weights = _importance(raw.get("global"))
        out.explainer = str(raw.get("explainer") or "") or None
        rows = _records(raw.get("rows"))
        if rows:
            values = [r["values"] if isinstance(r.get("values"), dict) else r for r in rows]
            out.shap_columns = order_by_weight([str(c) for v in values for c in v], weights)
            out.shap_rows = [
                ShapRow(
                    index=r.get("index", i),
                    base=_num(r.get("base_value")),
                    label=str(r["class"]) if r.get("class") is not None else None,
                    cells={c: (_num(v.get(c)), (r.get("features") or {}).get(c)) for c in out.shap_columns},
                )
                for i, (r, v) in enumerate(zip(rows, values, strict=True))
            ]
        examples = _records(raw.get("predictions"))
        title = "mean |SHAP value|"
    else:
        weights = _importance(raw.get("importance"))
        examples = _records(raw.get("rows"))
        title = "permutation importance"
    if weights:
        out.importance = bars(weights, title=title, cls=f"importance {method}")
    if examples:
        out.examples = examples
        out.example_columns = list(dict.fromkeys(str(c) for r in examples for c in r))
    if out.importance is None and not out.shap_rows and not out.examples:
        return None
    return out


def order_by_weight(columns: list[str], weights: dict[str, tuple[float, float | None]]) -> list[str]:
    unique = list(dict.fromkeys(columns))
    return sorted(unique, key=lambda c: -abs(weights.get(c, (0.0, None))[0]))


def inputs(backend: Backend, run_id: str, root: str) -> list[Link]:
    """The model and dataset versions the run read, from lineage (empty when not recorded)."""
    try:
        node = backend.lineage.find_node(f"run:{run_id}")
    except NotFound:
        return []
    graph = backend.lineage.upstream(node.id, 1)
    links = [link_of(n, root) for n in graph.nodes if n.id != node.id]
    return [link for link in links if link is not None and link.kind != "run"]
