"""Recording an evaluation: ONE tracked run (tags, metrics, report, blessing, plots, explanations),
its lineage (the model version and dataset version it read) and the blessing tags on the version.

The run is written through the client's services directly rather than the fluent stack, so an
explicit ``client=`` works and an evaluation inside a pipeline step (or any active run) nests under
that run without becoming the thread's active run.
"""

from __future__ import annotations

import math
import time
from typing import Any

from treadle.client import Client, active_run
from treadle.client import _fluent as fluent
from treadle.errors import NotFound
from treadle.evaluation._data import DataRef, ModelRef
from treadle.tracking import InputRef, Metric

DEFAULT_EXPERIMENT = "evaluations"
PIPELINE_RUN_TAG = "treadle.pipeline.run"  # set by the pipeline engine on every step run


def open_run(client: Client, name: str, experiment: str | None, tags: dict[str, str]) -> str:
    """Create the evaluation run: nested under the active run (a pipeline step's too) when there is
    one in this backend and experiment; tagged with the pipeline run the step belongs to."""
    active = active_run()
    parent = None
    if active is not None:
        try:
            parent = client.tracking.get_run(active.id)
        except NotFound:  # the active run lives in another backend than client=
            parent = None
    experiment_id: str | None = None
    if experiment is not None:
        experiment_id = client.get_or_create_experiment(experiment).id
    elif parent is not None:
        experiment_id = parent.experiment_id
    elif client is fluent.get_client() and fluent._current().experiment_id is not None:
        experiment_id = fluent._current().experiment_id
    if experiment_id is None:
        experiment_id = client.get_or_create_experiment(DEFAULT_EXPERIMENT).id
    parent_id = None
    if parent is not None and parent.experiment_id == experiment_id:
        parent_id = parent.id
        if parent.tags.get(PIPELINE_RUN_TAG):
            tags = {**tags, "treadle.pipeline_run": parent.tags[PIPELINE_RUN_TAG]}
    return client.tracking.create_run(experiment_id, name=name, parent_id=parent_id, tags=tags).id


def log_metrics(client: Client, run_id: str, metrics: dict[str, float]) -> None:
    now = int(time.time() * 1000)
    points = [Metric(key=k, value=v, step=0, timestamp=now) for k, v in metrics.items() if math.isfinite(v)]
    for i in range(0, len(points), 900):  # bounded batches
        client.log_batch(run_id, metrics=points[i : i + 900])


def log_lineage(client: Client, run_id: str, model: ModelRef, data: DataRef) -> None:
    """The run read the model version (the registry's own node) and the dataset version."""
    inputs: list[InputRef] = []
    if data.uri is not None:
        source = data.source
        inputs.append(
            InputRef(uri=data.uri, name=getattr(source, "name", None), digest=getattr(source, "digest", None))
        )
    else:
        inputs.append(fluent._input_ref(data.frame, "evaluation data"))
    if model.version is not None:
        if not _link_version(client, run_id, model):
            inputs.append(
                InputRef(
                    uri=model.version.uri,
                    name=model.version.uri,
                    type="treadle.ModelVersion",
                    digest=model.version.digest,
                )
            )
    elif model.uri is not None:
        inputs.append(InputRef(uri=model.uri, name=model.uri, type="treadle.Model"))
    client.tracking.log_inputs(run_id, inputs)


def _link_version(client: Client, run_id: str, model: ModelRef) -> bool:
    """An input edge from the registry's node of the version (found as its producing run's output)."""
    version = model.version
    assert version is not None
    if version.run_id is None:
        return False
    lineage = client.lineage
    try:
        producer = lineage.find_node(f"run:{version.run_id}")
        graph = lineage.downstream(producer.id, hops=1)
        run_node = lineage.find_node(f"run:{run_id}")
    except NotFound:
        return False
    for node in graph.nodes:
        if node.uri == version.uri and node.type == "treadle.ModelVersion":
            lineage.add_edge("input", node.id, run_node.id)
            return True
    return False


def bless_version(client: Client, model: ModelRef, run_id: str, passed: bool) -> None:
    """Tag the registry version with the blessing (``treadle.blessing``, ``treadle.blessed``)."""
    if model.version is None:
        return
    name, number = model.version.name, model.version.version
    client.registry.set_version_tag(name, number, "treadle.blessing", run_id)
    client.registry.set_version_tag(name, number, "treadle.blessed", "true" if passed else "false")


def blessing_of(model_uri: str, client: Client | None = None) -> dict[str, Any] | None:
    """The blessing last recorded for a registry version (``models:/x/3`` or ``models:/x@alias``):
    the evaluation run's ``evaluation/blessing.json``, or None when it was never evaluated."""
    client = client or fluent.get_client()
    version = client.get_model_version_by_uri(model_uri)
    run_id = version.tags.get("treadle.blessing")
    if not run_id:
        return None
    import json

    try:
        data: dict[str, Any] = json.loads(client.read_artifact(run_id, "evaluation/blessing.json"))
    except NotFound:
        return None
    return data
