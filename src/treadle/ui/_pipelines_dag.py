"""A pipeline's DAG drawn as SVG on the server: no JavaScript graph library, and the picture is in the
HTML itself, so it shows without scripts, prints, and is testable with plain HTTP.

Layout: each step sits in the column of its topological depth (the longest path from a step with no
upstream), so every edge points right; within a column steps are ordered by the mean row of their
upstream steps (one barycentre pass), which untangles the usual fan-out/fan-in shapes. Edges are
cubic Bézier paths from the right side of the producer to the left side of the consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from markupsafe import Markup, escape

from treadle.orchestration import PipelineSpec, StepSpec

NODE_W = 176
NODE_H = 46
COL_GAP = 64
ROW_GAP = 18
PAD = 8
MAX_LABEL = 22  # characters of a step name drawn in a box; the full name is in its tooltip


@dataclass(frozen=True)
class Placed:
    """A step's box: column (depth), row within the column, and its top-left corner in pixels."""

    step: str
    depth: int
    row: int
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    """An edge, and the (y) of each column it passes through on its way (a long edge's route)."""

    src: str
    dst: str
    via: list[tuple[int, int]]  # (x of the passed column's left side, y of its centre line)


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, Placed]
    edges: list[Edge]
    width: int
    height: int


def upstream(step: StepSpec) -> list[str]:
    """The steps ``step`` waits for: producers of its inputs, then ordering-only ``after`` steps."""
    found = [b.step for b in step.inputs.values() if b.kind == "step" and b.step]
    return list(dict.fromkeys([*found, *step.after]))


def depths(spec: PipelineSpec) -> dict[str, int]:
    """Longest distance from a source, by Kahn's algorithm. Unknown upstream names are ignored and the
    steps of a cycle (only possible in a hand-written, invalid spec) land in column 0 rather than hang."""
    names = [s.name for s in spec.steps]
    known = set(names)
    ups = {s.name: [u for u in upstream(s) if u in known and u != s.name] for s in spec.steps}
    downs: dict[str, list[str]] = {n: [] for n in names}
    for name, us in ups.items():
        for u in us:
            downs[u].append(name)
    waiting = {n: len(us) for n, us in ups.items()}
    depth = dict.fromkeys(names, 0)
    ready = [n for n in names if waiting[n] == 0]
    while ready:
        name = ready.pop(0)
        for d in downs[name]:
            depth[d] = max(depth[d], depth[name] + 1)
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    return depth


def _slot_y(row: int, offset: int) -> int:
    return PAD + offset + row * (NODE_H + ROW_GAP)


def _centre(preds: list[str], row: dict[str, int], first: int) -> tuple[float, int]:
    """Sort key in a column: the mean row of the upstream slots (barycentre), then the first order."""
    rows = [row[p] for p in preds if p in row]
    return (sum(rows) / len(rows) if rows else float(first), first)


def layout(spec: PipelineSpec) -> Layout:
    """Columns by depth; an edge spanning several columns gets a placeholder slot (a "dummy node") in
    each column it crosses, so it is routed between boxes instead of through them."""
    depth = depths(spec)
    known = set(depth)
    pairs = [(u, s.name) for s in spec.steps for u in upstream(s) if u in known and u != s.name]
    preds: dict[str, list[str]] = {n: [] for n in depth}
    columns: dict[int, list[str]] = {}
    for s in spec.steps:  # spec order is topological: a stable starting order within each column
        columns.setdefault(depth[s.name], []).append(s.name)
    chains: dict[tuple[str, str], list[str]] = {}
    for u, v in pairs:
        prev, chain = u, []
        for d in range(depth[u] + 1, depth[v]):
            dummy = f"\0{u}\0{v}\0{d}"
            columns.setdefault(d, []).append(dummy)
            preds[dummy] = [prev]
            chain.append(dummy)
            prev = dummy
        chains[(u, v)] = chain
        preds[v].append(prev)
    row: dict[str, int] = {}
    for d in sorted(columns):
        names = columns[d]
        keys = {n: _centre(preds[n], row, i) for i, n in enumerate(names)}
        columns[d] = sorted(names, key=keys.__getitem__)
        row.update({n: i for i, n in enumerate(columns[d])})
    tallest = max((len(c) for c in columns.values()), default=0)
    ys: dict[str, int] = {}
    for names in columns.values():
        offset = (tallest - len(names)) * (NODE_H + ROW_GAP) // 2  # centre short columns vertically
        ys.update({n: _slot_y(i, offset) for i, n in enumerate(names)})
    nodes = {n: Placed(n, depth[n], row[n], PAD + depth[n] * (NODE_W + COL_GAP), ys[n]) for n in depth}
    column_x = [PAD + d * (NODE_W + COL_GAP) for d in range(len(columns))]
    edges = [
        Edge(u, v, [(column_x[depth[u] + 1 + i], ys[c] + NODE_H // 2) for i, c in enumerate(chains[(u, v)])])
        for u, v in pairs
    ]
    width = 2 * PAD + len(columns) * NODE_W + max(len(columns) - 1, 0) * COL_GAP
    height = 2 * PAD + tallest * NODE_H + max(tallest - 1, 0) * ROW_GAP
    return Layout(nodes, edges, width, height)


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def _curve(x1: int, y1: int, x2: int, y2: int) -> str:
    bend = max((x2 - x1) // 2, COL_GAP // 2)
    return f"C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"


def edge_path(a: Placed, b: Placed, via: list[tuple[int, int]] | None = None) -> str:
    """From the right side of ``a`` to the left side of ``b``: a curve into each passed column, a
    straight run across it, and a last curve into ``b``."""
    x, y = a.x + NODE_W, a.y + NODE_H // 2
    out = [f"M{x},{y}"]
    for vx, vy in via or []:
        out.append(f"{_curve(x, y, vx, vy)} L{vx + NODE_W},{vy}")
        x, y = vx + NODE_W, vy
    out.append(_curve(x, y, b.x, b.y + NODE_H // 2))
    return " ".join(out)


def render_dag(
    spec: PipelineSpec,
    statuses: Mapping[str, str] | None = None,
    captions: Mapping[str, str] | None = None,
    link: Callable[[str], str | None] | None = None,
) -> Markup:
    """The SVG of ``spec``: boxes coloured by ``statuses`` (step -> status, e.g. from a run), a second
    line from ``captions`` (default: the status, or the function), each box linking to ``link(step)``."""
    statuses, captions = statuses or {}, captions or {}
    lay = layout(spec)
    by_name = {s.name: s for s in spec.steps}
    parts = [
        f'<svg class="dag" id="dag" role="img" aria-label="{escape(spec.name)} pipeline graph" '
        f'width="{lay.width}" height="{lay.height}" viewBox="0 0 {lay.width} {lay.height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="dag-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>',
    ]
    for e in lay.edges:
        done = statuses.get(e.src, "").upper() in {"SUCCEEDED", "CACHED"}
        cls = "dag-edge done" if done else "dag-edge"
        path = edge_path(lay.nodes[e.src], lay.nodes[e.dst], e.via)
        parts.append(
            f'<path class="{cls}" data-from="{escape(e.src)}" data-to="{escape(e.dst)}" d="{path}" '
            'marker-end="url(#dag-arrow)"/>'
        )
    for name, p in lay.nodes.items():
        status = statuses.get(name, "").upper()
        function = by_name[name].function.rsplit(":", 1)[-1]
        caption = captions.get(name) or (status.lower() if status else function if function != name else "")
        cls = f"dag-node status-{status.lower()}" if status else "dag-node"
        tip = f"{name} ({status.lower()})" if status else name
        node = (
            f'<g class="{cls}" data-step="{escape(name)}" data-status="{escape(status)}" '
            f'transform="translate({p.x},{p.y})"><title>{escape(tip)}</title>'
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="7"/>'
            f'<text class="dag-name" x="12" y="{19 if caption else 28}">{escape(_label(name))}</text>'
            + (f'<text class="dag-caption" x="12" y="35">{escape(_label(caption))}</text>' if caption else "")
            + "</g>"
        )
        href = link(name) if link else None
        parts.append(f'<a href="{escape(href)}">{node}</a>' if href else node)
    parts.append("</svg>")
    return Markup("".join(parts))
