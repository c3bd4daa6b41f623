"""One lineage graph over everything: Artifact, Execution and Context nodes joined by
input/output events, attributions (context -> artifact) and associations (context -> execution)."""

from treadle.lineage._record import delete_nodes, link, node_id, put_node
from treadle.lineage._service import Edge, Graph, LineageService, Node

__all__ = ["Edge", "Graph", "LineageService", "Node", "delete_nodes", "link", "node_id", "put_node"]
