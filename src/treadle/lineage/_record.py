"""Recording into the graph from inside another capability's write transaction."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Connection, bindparam, delete, select

from treadle.errors import InvalidArgument
from treadle.lineage._store import edges_table, nodes_table
from treadle.store import dialect_insert, insert_for, now_ms, per_dialect

NodeKind = Literal["artifact", "execution", "context"]
EdgeType = Literal["input", "output", "attribution", "association"]

NODE_KINDS = ("artifact", "execution", "context")
# Which node kinds each edge type joins (source kind, target kind).
EDGE_ENDS: dict[str, tuple[str, str]] = {
    "input": ("artifact", "execution"),
    "output": ("execution", "artifact"),
    "attribution": ("context", "artifact"),
    "association": ("context", "execution"),
}


def put_node(
    conn: Connection,
    kind: NodeKind,
    type: str,
    name: str,
    *,
    external_id: str | None = None,
    uri: str | None = None,
    properties: dict[str, Any] | None = None,
) -> int:
    """Create a node, or return (and refresh the properties of) the one with ``external_id``."""
    props = properties or {}
    if kind not in NODE_KINDS:
        raise InvalidArgument(f"node kind must be artifact, execution or context, not {kind!r}")
    values = dict(kind=kind, type=type, name=name, uri=uri, external_id=external_id, properties=props)
    if external_id is None:
        result = conn.execute(dialect_insert(conn, nodes_table).values(**values, created_at=now_ms()))
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])
    if properties is not None or uri is not None:  # create or refresh: one statement
        return int(conn.execute(_upsert_node(conn), {**values, "created_at": now_ms()}).scalar_one())
    found = conn.execute(_node_by_external_id, {"external_id": external_id}).scalar()
    if found is not None:  # the common case (an experiment's context, a run's node): one read
        return int(found)
    conn.execute(_insert_node(conn), {**values, "created_at": now_ms()})
    return int(conn.execute(_node_by_external_id, {"external_id": external_id}).scalar_one())


_node_by_external_id = select(nodes_table.c.id).where(nodes_table.c.external_id == bindparam("external_id"))


@per_dialect
def _insert_node(dialect: str) -> Any:
    return insert_for(dialect, nodes_table).on_conflict_do_nothing(index_elements=["external_id"])


@per_dialect
def _upsert_node(dialect: str) -> Any:
    stmt = insert_for(dialect, nodes_table)
    refreshed = {"name": stmt.excluded.name, "uri": stmt.excluded.uri, "properties": stmt.excluded.properties}
    return stmt.on_conflict_do_update(index_elements=["external_id"], set_=refreshed).returning(nodes_table.c.id)


def link(conn: Connection, type: EdgeType, source_id: int, target_id: int, path: str | None = None) -> None:
    """Add an edge once; adding it again is a no-op."""
    if type not in EDGE_ENDS:
        raise InvalidArgument(f"edge type must be one of {sorted(EDGE_ENDS)}, not {type!r}")
    edge = dict(type=type, source_id=source_id, target_id=target_id, path=path, created_at=now_ms())
    conn.execute(_insert_edge(conn), edge)


@per_dialect
def _insert_edge(dialect: str) -> Any:
    return insert_for(dialect, edges_table).on_conflict_do_nothing(index_elements=["type", "source_id", "target_id"])


def delete_nodes(conn: Connection, external_ids: list[str], prefix: str | None = None) -> None:
    """Remove the nodes standing for deleted objects (and, by cascade, their edges)."""
    column = nodes_table.c.external_id
    if prefix:
        conn.execute(delete(nodes_table).where(column.in_(external_ids) | column.startswith(prefix, autoescape=True)))
    else:
        conn.execute(delete(nodes_table).where(column.in_(external_ids)))


def node_id(conn: Connection, external_id: str) -> int | None:
    """The id of the node standing for ``external_id``, or None."""
    return conn.execute(select(nodes_table.c.id).where(nodes_table.c.external_id == external_id)).scalar()
