"""Pipelines in the lineage graph.

A pipeline is a Context (``pipeline:<name>``, type ``treadle.Pipeline``) associated with each run's
tracked parent run; each pipeline run is a Context too (``pipeline_run:<id>``, type
``treadle.PipelineRun``) associated with its parent run and every step's run (Execution nodes
``run:<run_id>`` that tracking creates). A step's outputs are Artifacts
(``step-output:<pipeline_run_id>/<step>/<name>``) with an output event from the step's run, or the
dataset / model version node itself when the output is one; a step's inputs are input events from
those nodes, so lineage needs no user code.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, select

from treadle.datasets import version_node_id as dataset_node_id
from treadle.lineage import link, node_id, put_node
from treadle.orchestration._records import OutputRef

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d{1,9})$")
_DATASET_URI = re.compile(r"^datasets:/(?P<name>[^/@]+)/(?P<version>\d{1,9})$")


def pipeline_context(conn: Connection, name: str, digest: str) -> int:
    return put_node(
        conn, "context", "treadle.Pipeline", name, external_id=f"pipeline:{name}", properties={"digest": digest}
    )


def run_context(conn: Connection, pipeline_run_id: str, pipeline: str) -> int:
    return put_node(
        conn,
        "context",
        "treadle.PipelineRun",
        f"{pipeline} {pipeline_run_id[:8]}",
        external_id=f"pipeline_run:{pipeline_run_id}",
        properties={"pipeline": pipeline},
    )


def associate(conn: Connection, pipeline_run_id: str, pipeline: str, run_id: str, *, parent: bool = False) -> int:
    """Join a tracked run to the pipeline run's context (and the pipeline's, for the parent run);
    its Execution node id (tracking made it; made here when the run is not tracked in this store)."""
    run_node = node_id(conn, f"run:{run_id}")
    if run_node is None:
        run_node = put_node(conn, "execution", "treadle.Run", run_id, external_id=f"run:{run_id}")
    contexts = (
        [f"pipeline_run:{pipeline_run_id}", f"pipeline:{pipeline}"] if parent else [f"pipeline_run:{pipeline_run_id}"]
    )
    for external in contexts:
        ctx = node_id(conn, external)
        if ctx is not None:
            link(conn, "association", ctx, run_node)
    return run_node


def _existing_node(conn: Connection, uri: str | None) -> int | None:
    """The registry's / datasets' own node for a ``models:/name/N`` or ``datasets:/name/N`` output."""
    if not uri:
        return None
    if match := _DATASET_URI.match(uri):
        return node_id(conn, dataset_node_id(match["name"], int(match["version"])))
    if match := _MODEL_URI.match(uri):
        from treadle.registry._store import version_node_id
        from treadle.registry._tables import models

        model_id = conn.execute(select(models.c.id).where(models.c.name == match["name"])).scalar()
        if model_id is not None:
            return node_id(conn, version_node_id(model_id, int(match["version"])))
    return None


def output_node(conn: Connection, pipeline_run_id: str, step: str, ref: OutputRef) -> int:
    existing = _existing_node(conn, ref.uri)
    if existing is not None:
        return existing
    return put_node(
        conn,
        "artifact",
        "treadle.StepOutput",
        f"{step}.{ref.name}",
        external_id=f"step-output:{pipeline_run_id}/{step}/{ref.name}",
        uri=ref.uri,
        properties={"digest": ref.digest, "kind": ref.kind, "type": ref.type, "size": ref.size},
    )


def record_outputs(
    conn: Connection, pipeline_run_id: str, step: str, run_id: str | None, outputs: dict[str, OutputRef]
) -> None:
    run_node = node_id(conn, f"run:{run_id}") if run_id else None
    for name, ref in outputs.items():
        node = output_node(conn, pipeline_run_id, step, ref)
        if run_node is not None:
            link(conn, "output", run_node, node, path=name)


def record_inputs(
    conn: Connection, pipeline_run_id: str, run_node: int, inputs: list[OutputRef], steps: list[Any]
) -> None:
    """Input events into a step's run from the nodes of the outputs it consumes: the producing step
    of this pipeline run when one has that output (same name and digest), else a content-keyed node."""
    for ref in inputs:
        node = _existing_node(conn, ref.uri)
        if node is None:
            producer = next(
                (row.step for row in steps if (row.outputs or {}).get(ref.name, {}).get("digest") == ref.digest),
                None,
            )
            if producer is not None:  # its finish_step made the node: one lookup, not an upsert
                external = f"step-output:{pipeline_run_id}/{producer}/{ref.name}"
                node = node_id(conn, external) or output_node(conn, pipeline_run_id, producer, ref)
            else:
                node = put_node(
                    conn,
                    "artifact",
                    "treadle.StepOutput",
                    ref.name,
                    external_id=f"input:{ref.digest}",
                    uri=ref.uri,
                    properties={"digest": ref.digest, "kind": ref.kind, "type": ref.type, "size": ref.size},
                )
        link(conn, "input", node, run_node, path=ref.name)
