"""Pipeline runs for the UI tests, recorded through the real services the way the engine records them:
a registered spec, a tracked parent run, one nested tracked run per step with its log and outputs
as artifacts, step runs started and finished (one CACHED, one FAILED with dependants SKIPPED)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from treadle import Client
from treadle.orchestration import InputBinding, OutputRef, ParamSpec, PipelineSpec, StepSpec

PIPELINE = "churn-train"


def step_spec(name: str, *upstream: str, after: tuple[str, ...] = ()) -> StepSpec:
    inputs = {f"in_{u}": InputBinding(kind="step", step=u, output="output") for u in upstream}
    return StepSpec(
        name=name, function=f"flows.churn:{name}", code_digest=hashlib.sha256(name.encode()).hexdigest(),
        inputs=inputs, after=list(after),
    )  # fmt: skip


def churn_spec(name: str = PIPELINE) -> PipelineSpec:
    """ingest -> clean -> (features, stats) -> train(features) -> report(train, stats)."""
    steps = [
        step_spec("ingest"),
        step_spec("clean", "ingest"),
        step_spec("features", "clean"),
        step_spec("stats", "clean"),
        step_spec("train", "features"),
        step_spec("report", "train", "stats"),
    ]
    steps[0] = steps[0].model_copy(update={"inputs": {"rows": InputBinding(kind="param", param="rows")}})
    params = [ParamSpec(name="rows", type="int", default=100)]
    return PipelineSpec(
        name=name, steps=steps, params=params, source="flows/churn.py:train", doc="Train the churn model"
    )


@dataclass
class PipeSeed:
    uri: str
    artifacts: str
    ok: str = ""  # a SUCCEEDED pipeline run
    failed: str = ""  # a FAILED one: ingest CACHED from ``ok``, clean FAILED, the rest SKIPPED
    live: str = ""  # a RUNNING one: ingest SUCCEEDED, clean RUNNING, the rest PENDING
    step_runs: dict[str, str] = field(default_factory=dict)  # "ok/<step>" -> tracked run id


def _output(client: Client, run_id: str, value: object) -> OutputRef:
    data = json.dumps(value).encode()
    client.log_bytes(run_id, data, "outputs/output.json")
    return OutputRef(name="output", kind="json", digest=hashlib.sha256(data).hexdigest(), size=len(data), type="int",
                     preview=repr(value))  # fmt: skip


def run_step(client: Client, exp: str, parent: str, prun: str, step: str, status: str, **kw: object) -> str:
    """Start ``step`` in a nested tracked run, write its log, and finish it with ``status``."""
    svc = client.pipelines
    run = client.tracking.create_run(exp, name=step, parent_id=parent)
    svc.start_step(prun, step, run.id)
    if status == "RUNNING":
        client.log_text(run.id, f"{step}: started\n", "logs/step.log")
        return run.id
    client.log_text(run.id, f"{step}: working\n{step}: done <ok>\n", "logs/step.log")
    if status == "SUCCEEDED":
        kw["outputs"] = {"output": _output(client, run.id, len(step))}
    svc.finish_step(prun, step, status, run_id=run.id, **kw)  # type: ignore[arg-type]
    client.tracking.end_run(run.id, "FINISHED" if status in {"SUCCEEDED", "CACHED"} else "FAILED")
    return run.id


def seed_pipelines(root: Path) -> PipeSeed:
    uri, artifacts = f"sqlite:///{root / 'p.db'}", str(root / "art")
    client = Client(uri=uri, artifacts=artifacts)
    seed = PipeSeed(uri, artifacts)
    spec = churn_spec()
    client.pipelines.register_pipeline(spec)
    exp = client.get_or_create_experiment("pipelines").id

    def start(params: dict[str, object]) -> tuple[str, str]:
        parent = client.tracking.create_run(exp, name=PIPELINE)
        return client.pipelines.create_run(PIPELINE, params=params, run_id=parent.id).id, parent.id

    seed.ok, parent = start({"rows": 100})
    for s in spec.steps:
        seed.step_runs[f"ok/{s.name}"] = run_step(client, exp, parent, seed.ok, s.name, "SUCCEEDED")
    client.pipelines.finish_run(seed.ok, "SUCCEEDED")

    seed.failed, parent = start({"rows": 100})
    reused = next(s for s in client.pipelines.get_run_detail(seed.ok).steps if s.step == "ingest").outputs
    run_step(client, exp, parent, seed.failed, "ingest", "CACHED", cached_from=f"{seed.ok}/ingest", outputs=reused)
    run_step(client, exp, parent, seed.failed, "clean", "FAILED", error="ValueError: column 'plan' is empty")
    for name in ("features", "stats", "train", "report"):
        client.pipelines.finish_step(seed.failed, name, "SKIPPED")
    client.pipelines.finish_run(seed.failed, "FAILED", error="step clean failed")

    seed.live, parent = start({"rows": 7})
    run_step(client, exp, parent, seed.live, "ingest", "SUCCEEDED")
    run_step(client, exp, parent, seed.live, "clean", "RUNNING")
    return seed
