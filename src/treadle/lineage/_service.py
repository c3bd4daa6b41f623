"""Reading and writing the lineage graph."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from sqlalchemy import Connection, or_, select

from treadle.errors import InvalidArgument, NotFound
from treadle.lineage._record import EDGE_ENDS, EdgeType, NodeKind, link, put_node
from treadle.lineage._store import edges_table, nodes_table
from treadle.ops import Service, operation
from treadle.records import Record
from treadle.store import Store

MAX_HOPS = 50
FLOW_EDGES = ("input", "output")  # upstream/downstream follow data flow, not context membership


class Node(Record):
    id: int
    kind: str
    type: str
    name: str
    uri: str | None
    external_id: str | None
    properties: dict[str, Any]
    created_at: int


class Edge(Record):
    type: str
    source: int
    target: int
    path: str | None = None


class Graph(Record):
    nodes: list[Node]
    edges: list[Edge]

    def node(self, external_id: str) -> Node:
        for node in self.nodes:
            if node.external_id == external_id:
                return node
        raise NotFound(f"no node with external id {external_id!r} in this graph")


def _node(row: Any) -> Node:
    return Node.model_validate(dict(row._mapping))


class LineageService(Service):
    """The lineage graph: nodes, edges, and bounded traversals."""

    capability: ClassVar[str] = "lineage"

    def __init__(self, store: Store) -> None:
        self._store = store

    @operation
    def put_node(
        self,
        kind: NodeKind,
        type: str,
        name: str,
        external_id: str | None = None,
        uri: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> Node:
        """Create a node, or update the one that has ``external_id``."""
        with self._store.write() as conn:
            node_id = put_node(conn, kind, type, name, external_id=external_id, uri=uri, properties=properties)
            return self._get(conn, node_id)

    @operation
    def add_edge(self, type: EdgeType, source: int, target: int, path: str | None = None) -> Edge:
        """Join two nodes; the kinds must fit the edge type (e.g. input: artifact -> execution)."""
        with self._store.write() as conn:
            ends = (self._get(conn, source).kind, self._get(conn, target).kind)
            if ends != EDGE_ENDS[type]:
                raise InvalidArgument(
                    f"a {type} edge joins {EDGE_ENDS[type][0]} -> {EDGE_ENDS[type][1]}, not {ends[0]} -> {ends[1]}"
                )
            link(conn, type, source, target, path)
        return Edge(type=type, source=source, target=target, path=path)

    @operation
    def get_node(self, node_id: int) -> Node:
        """One node by id."""
        with self._store.read() as conn:
            return self._get(conn, node_id)

    @operation
    def find_node(self, external_id: str) -> Node:
        """The node that stands for an object, e.g. ``run:<id>`` or ``experiment:<id>``."""
        with self._store.read() as conn:
            row = conn.execute(select(nodes_table).where(nodes_table.c.external_id == external_id)).first()
        if row is None:
            raise NotFound(f"no lineage node for {external_id!r}")
        return _node(row)

    @operation
    def list_nodes(self, type: str, after_id: int = 0, limit: int = 10_000) -> list[Node]:
        """Nodes of one ``type`` (e.g. ``mlflow.LoggedModel``) by id, ``limit`` at a time after ``after_id``."""
        if not 1 <= limit <= 10_000:
            raise InvalidArgument("limit must be between 1 and 10000")
        q = (
            select(nodes_table)
            .where(nodes_table.c.type == type, nodes_table.c.id > after_id)
            .order_by(nodes_table.c.id)
            .limit(limit)
        )
        with self._store.read() as conn:
            return [_node(r) for r in conn.execute(q)]

    @operation
    def upstream(self, node_id: int, hops: int = 3) -> Graph:
        """What ``node_id`` was made from, up to ``hops`` edges back."""
        return self._walk(node_id, hops, "up")

    @operation
    def downstream(self, node_id: int, hops: int = 3) -> Graph:
        """What was made from ``node_id``, up to ``hops`` edges forward."""
        return self._walk(node_id, hops, "down")

    @operation
    def subgraph(self, node_id: int, hops: int = 2) -> Graph:
        """Both directions, plus the contexts (experiments, pipelines) the nodes belong to."""
        return self._walk(node_id, hops, "both")

    def _get(self, conn: Connection, node_id: int) -> Node:
        row = conn.execute(select(nodes_table).where(nodes_table.c.id == node_id)).first()
        if row is None:
            raise NotFound(f"lineage node {node_id} does not exist")
        return _node(row)

    def _walk(self, node_id: int, hops: int, direction: Literal["up", "down", "both"]) -> Graph:
        if not 0 <= hops <= MAX_HOPS:
            raise InvalidArgument(f"hops must be between 0 and {MAX_HOPS}, got {hops}")
        e = edges_table
        with self._store.read() as conn:
            seen = {node_id: self._get(conn, node_id)}
            edges: dict[tuple[str, int, int], Edge] = {}
            frontier = {node_id}
            for _ in range(hops):
                conds = []
                if direction in ("up", "both"):
                    conds.append(e.c.target_id.in_(frontier))
                if direction in ("down", "both"):
                    conds.append(e.c.source_id.in_(frontier))
                rows = conn.execute(select(e).where(e.c.type.in_(FLOW_EDGES), or_(*conds))).all()
                nxt: set[int] = set()
                for r in rows:
                    edges[(r.type, r.source_id, r.target_id)] = Edge(
                        type=r.type, source=r.source_id, target=r.target_id, path=r.path
                    )
                    for n in (r.source_id, r.target_id):
                        if n not in seen:
                            nxt.add(n)
                if not nxt:
                    break
                seen.update(
                    {n.id: n for n in map(_node, conn.execute(select(nodes_table).where(nodes_table.c.id.in_(nxt))))}
                )
                frontier = nxt
            if direction == "both":
                ctx_rows = conn.execute(
                    select(e).where(e.c.type.in_(("attribution", "association")), e.c.target_id.in_(list(seen)))
                ).all()
                ctx_ids = {r.source_id for r in ctx_rows} - set(seen)
                if ctx_ids:
                    seen.update(
                        {
                            n.id: n
                            for n in map(_node, conn.execute(select(nodes_table).where(nodes_table.c.id.in_(ctx_ids))))
                        }
                    )
                for r in ctx_rows:
                    edges[(r.type, r.source_id, r.target_id)] = Edge(
                        type=r.type, source=r.source_id, target=r.target_id, path=r.path
                    )
        return Graph(nodes=list(seen.values()), edges=list(edges.values()))
