"""Feature views in the lineage graph.

Each view version is an Artifact node (type ``treadle.FeatureView``, external id
``feature_view_version:<view id>:<version>``, URI ``features:/<name>/<version>``) attributed to the
view's Context node. Its inputs are joined through an Execution node (``treadle.FeatureApply``): the
dataset version a view reads, or the feature view versions an on-demand view reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from treadle.datasets import version_node_id as dataset_node_id
from treadle.features import _tables as t
from treadle.features._definitions import DatasetSource
from treadle.features._sources import DatasetReader, resolve_dataset
from treadle.lineage import link, node_id, put_node


def view_version_node_id(view_id: int, version: int) -> str:
    return f"feature_view_version:{view_id}:{version}"


def record_view_version(
    conn: Connection, view_id: int, version: int, spec: dict[str, Any], datasets: DatasetReader | None
) -> int:
    name = spec["name"]
    ctx = put_node(conn, "context", "treadle.FeatureViewContext", name, external_id=f"feature_view:{view_id}")
    properties: dict[str, Any] = {
        "view": name,
        "version": version,
        "kind": spec["kind"],
        "features": [f["name"] for f in spec.get("schema", [])],
    }
    inputs = _input_nodes(conn, spec, datasets, properties)
    node = put_node(
        conn,
        "artifact",
        "treadle.FeatureView",
        f"{name} v{version}",
        external_id=view_version_node_id(view_id, version),
        uri=f"features:/{name}/{version}",
        properties=properties,
    )
    link(conn, "attribution", ctx, node)
    if inputs:
        execution = put_node(
            conn,
            "execution",
            "treadle.FeatureApply",
            f"apply {name} v{version}",
            external_id=f"feature_apply:{view_id}:{version}",
        )
        for source_node, path in inputs:
            link(conn, "input", source_node, execution, path=path)
        link(conn, "output", execution, node, path=f"features:/{name}/{version}")
    return node


def _input_nodes(
    conn: Connection, spec: dict[str, Any], datasets: DatasetReader | None, properties: dict[str, Any]
) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for key in ("source", "batch_source"):
        source = spec.get(key)
        if not source or source.get("kind") != "dataset" or datasets is None:
            continue
        try:
            resolved = resolve_dataset(datasets, DatasetSource.from_spec(source))
        except Exception:  # apply warned that the source could not be read; no edge then
            continue
        properties[f"{key}_dataset_version"] = resolved.version
        external = dataset_node_id(resolved.name, resolved.version)
        dataset_node = node_id(conn, external)
        if dataset_node is not None:
            found.append((dataset_node, external))
    for view in spec.get("source_views", []):
        row = conn.execute(select(t.views.c.id, t.views.c.latest_version).where(t.views.c.name == view)).first()
        if row is None:
            continue
        source_node = node_id(conn, view_version_node_id(row.id, row.latest_version))
        if source_node is not None:
            found.append((source_node, f"features:/{view}/{row.latest_version}"))
    return found
