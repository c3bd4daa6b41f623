"""A feature view version's place in the lineage graph: the dataset versions (or, for an on-demand
view, the feature view versions) it was built from, and what was built from it — each linked to
its page where the UI has one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from treadle.errors import NotFound
from treadle.features._lineage import view_version_node_id
from treadle.lineage import Node

if TYPE_CHECKING:
    from treadle.client._backend import Backend

HOPS = 2  # artifact -> apply execution -> artifact


@dataclass(frozen=True)
class Link:
    kind: str  # dataset | feature view | model | run | the node's type
    label: str
    uri: str
    url: str | None


@dataclass
class FeatureLineage:
    upstream: list[Link] = field(default_factory=list)
    downstream: list[Link] = field(default_factory=list)


def _numbered(uri: str, scheme: str) -> tuple[str, int] | None:
    """``datasets:/name/3`` -> (name, 3) for the given scheme."""
    name, _, number = uri.removeprefix(scheme).rpartition("/")
    if not uri.startswith(scheme) or not name or not number.isdigit():
        return None
    return name, int(number)


def link_of(node: Node, root: str) -> Link | None:
    """A node the page can show: an artifact (dataset / feature view / model version) or a run."""
    uri = node.uri or ""
    if (found := _numbered(uri, "datasets:/")) is not None:
        name, n = found
        return Link("dataset", f"{name} v{n}", uri, f"{root}/datasets/{quote(name)}/{n}")
    if (found := _numbered(uri, "features:/")) is not None:
        name, n = found
        return Link("feature view", f"{name} v{n}", uri, f"{root}/features/views/{quote(name)}?version={n}")
    if (found := _numbered(uri, "models:/")) is not None:
        name, n = found
        return Link("model", f"{name} v{n}", uri, f"{root}/models/{quote(name)}/versions/{n}")
    external = node.external_id or ""
    if node.kind == "execution" and external.startswith("run:"):
        return Link("run", node.name or external[4:12], external, f"{root}/runs/{quote(external[4:])}")
    if node.kind == "artifact":
        return Link(node.type.removeprefix("treadle."), node.name, uri or external, None)
    return None


def view_lineage(backend: Backend, name: str, version: int, root: str = "") -> FeatureLineage | None:
    """Upstream and downstream of ``name`` v``version``; None where the graph has no node for it
    (or the backend is remote: the node is found through the view's id in the local store)."""
    store = backend.store
    if store is None:
        return None
    try:
        with store.read() as conn:
            view_id = backend.features.view_id(conn, name)
        node = backend.lineage.find_node(view_version_node_id(view_id, version))
    except NotFound:
        return None
    lineage = FeatureLineage()
    for graph, into in ((backend.lineage.upstream(node.id, HOPS), lineage.upstream),
                        (backend.lineage.downstream(node.id, HOPS), lineage.downstream)):  # fmt: skip
        for other in graph.nodes:
            if other.id != node.id and (link := link_of(other, root)) is not None:
                into.append(link)
        into.sort(key=lambda link: (link.kind, link.label))
    return lineage
