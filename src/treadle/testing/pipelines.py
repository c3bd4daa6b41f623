"""Pipelines conformance: registered specs kept by digest, runs and step runs through every state,
the step cache, heartbeats and reaping, resume and cancel, lineage without user code, events, and
``claim_run`` racing from several threads with exactly one winner. Every backend (SQLite,
PostgreSQL, HTTP) runs it with a ``client`` fixture."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from treadle import Client
from treadle.errors import Conflict, InvalidArgument, NotFound
from treadle.orchestration import InputBinding, OutputRef, ParamSpec, PipelineSpec, StepSpec


def _name(prefix: str = "pipe") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def spec(name: str, code: str = "v1") -> PipelineSpec:
    """load(n) -> train(data) -> report(model), and an independent branch ``side``."""
    return PipelineSpec(
        name=name,
        params=[ParamSpec(name="n", type="int", required=True), ParamSpec(name="seed", default=0)],
        steps=[
            StepSpec(
                name="load", function="m:load", code_digest=code, inputs={"n": InputBinding(kind="param", param="n")}
            ),
            StepSpec(
                name="train",
                function="m:train",
                code_digest=code,
                inputs={"data": InputBinding(kind="step", step="load", output="output")},
            ),
            StepSpec(
                name="report",
                function="m:report",
                code_digest=code,
                inputs={"model": InputBinding(kind="step", step="train", output="output")},
            ),
            StepSpec(name="side", function="m:side", code_digest=code),
        ],
    )


def ref(name: str = "output", digest: str | None = None, uri: str | None = None) -> OutputRef:
    return OutputRef(
        name=name, kind="json", digest=digest or uuid.uuid4().hex * 2, size=3, type="int", uri=uri, preview="1"
    )


def _tracked_run(client: Client) -> str:
    return client.tracking.create_run(client.get_or_create_experiment("pipelines-conformance").id).id


def _events(client: Client, kind: str, pipeline: str) -> list[Any]:
    page = client.events.read(after=0, kinds=[kind], limit=10_000)
    return [e for e in page.events if e.payload.get("pipeline") == pipeline]


def test_register_keeps_every_spec_by_digest(client: Client) -> None:
    name = _name()
    first = client.pipelines.register_pipeline(spec(name))
    assert first.name == name and len(first.spec.digest) == 64 and first.last_run_id is None
    assert client.pipelines.register_pipeline(spec(name)).spec.digest == first.spec.digest
    run = client.pipelines.create_run(name, {"n": 3})
    assert run.spec_digest == first.spec.digest
    second = client.pipelines.register_pipeline(spec(name, code="v2"))
    assert second.spec.digest != first.spec.digest and second.created_at == first.created_at
    assert client.pipelines.get_pipeline(name).spec.steps[0].code_digest == "v2"
    old = client.pipelines.get_run_detail(run.id)  # the run still shows the spec it ran
    assert old.spec.digest == first.spec.digest and old.spec.steps[0].code_digest == "v1"
    listed = {p.name: p for p in client.pipelines.list_pipelines()}
    assert listed[name].last_run_id == run.id and listed[name].last_status == "RUNNING"
    given = spec(_name()).model_copy(update={"digest": "d" * 64, "source": "m:flow", "workdir": "/tmp"})
    stored = client.pipelines.register_pipeline(given)
    assert stored.spec.digest == "d" * 64 and stored.spec.source == "m:flow"
    assert client.lineage.find_node(f"pipeline:{name}").type == "treadle.Pipeline"
    with pytest.raises(NotFound, match="nope-pipeline"):
        client.pipelines.get_pipeline("nope-pipeline")


def test_a_run_goes_through_its_steps_and_the_cache(client: Client) -> None:
    name = _name()
    client.pipelines.register_pipeline(spec(name))
    parent = _tracked_run(client)
    run = client.pipelines.create_run(name, {"n": 3}, trigger="manual", executor="inprocess", run_id=parent)
    assert (run.status, run.pipeline, run.params, run.run_id, run.attempt) == ("RUNNING", name, {"n": 3}, parent, 0)
    assert run.started_at is not None and run.heartbeat_at is not None and len(run.id) == 32
    detail = client.pipelines.get_run_detail(run.id)
    assert [(s.step, s.status, s.attempt) for s in detail.steps] == [
        ("load", "PENDING", 0),
        ("train", "PENDING", 0),
        ("report", "PENDING", 0),
        ("side", "PENDING", 0),
    ]
    key = uuid.uuid4().hex
    step_run = _tracked_run(client)
    started = client.pipelines.start_step(run.id, "load", step_run, cache_key=key, executor="inprocess")
    assert (started.status, started.attempt, started.run_id, started.cache_key) == ("RUNNING", 1, step_run, key)
    assert client.pipelines.find_cached(key) is None  # not until it succeeds
    out = ref()
    done = client.pipelines.finish_step(run.id, "load", "SUCCEEDED", outputs={"output": out})
    assert done.status == "SUCCEEDED" and done.outputs == {"output": out} and done.ended_at is not None
    hit = client.pipelines.find_cached(key)
    assert hit is not None and (hit.pipeline_run_id, hit.step, hit.outputs) == (run.id, "load", {"output": out})
    # The next step reads that output: lineage joins them with no user code.
    train_run = _tracked_run(client)
    client.pipelines.start_step(run.id, "train", train_run, inputs=[out])
    model = ref(uri=None)
    client.pipelines.finish_step(run.id, "train", "SUCCEEDED", outputs={"output": model})
    out_node = client.lineage.find_node(f"step-output:{run.id}/load/output")
    assert out_node.properties["digest"] == out.digest
    down = client.lineage.downstream(out_node.id, hops=3)
    assert {n.external_id for n in down.nodes} >= {f"run:{train_run}", f"step-output:{run.id}/train/output"}
    up = client.lineage.upstream(out_node.id, hops=1)
    assert f"run:{step_run}" in {n.external_id for n in up.nodes}
    for member in (parent, step_run, train_run):  # every tracked run belongs to the pipeline run ...
        node = client.lineage.find_node(f"run:{member}")
        contexts = {n.external_id for n in client.lineage.subgraph(node.id, hops=0).nodes}
        assert f"pipeline_run:{run.id}" in contexts
        assert (f"pipeline:{name}" in contexts) == (member == parent)  # ... and the parent to the pipeline
    # A second run reuses load's outputs: CACHED with a link to the original.
    again = client.pipelines.create_run(name, {"n": 3})
    cached = client.pipelines.finish_step(
        again.id, "load", "CACHED", outputs=hit.outputs, cached_from=f"{run.id}/load", cache_key=key
    )
    assert (cached.status, cached.cached_from, cached.attempt) == ("CACHED", f"{run.id}/load", 0)
    assert client.pipelines.find_cached(key).pipeline_run_id == run.id  # type: ignore[union-attr]
    for step in ("report", "side"):
        client.pipelines.start_step(run.id, step, _tracked_run(client))
        client.pipelines.finish_step(run.id, step, "SUCCEEDED", outputs={"output": ref()})
    finished = client.pipelines.finish_run(run.id, "SUCCEEDED")
    assert finished.status == "SUCCEEDED" and finished.ended_at is not None
    (event,) = [e for e in _events(client, "pipeline_run_finished", name) if e.payload["pipeline_run_id"] == run.id]
    assert event.subject == f"pipeline:{name}"
    assert event.payload == {"pipeline": name, "status": "SUCCEEDED", "pipeline_run_id": run.id, "run_id": parent}
    assert {e.payload["pipeline_run_id"] for e in _events(client, "pipeline_run_started", name)} == {run.id, again.id}
    with pytest.raises(Conflict, match="already ended SUCCEEDED"):
        client.pipelines.finish_run(run.id, "FAILED")


def test_retries_failure_skips_and_resume(client: Client) -> None:
    name = _name()
    client.pipelines.register_pipeline(spec(name))
    run = client.pipelines.create_run(name, {"n": 1})
    client.pipelines.start_step(run.id, "load", _tracked_run(client))
    client.pipelines.finish_step(run.id, "load", "SUCCEEDED", outputs={"output": ref()})
    client.pipelines.start_step(run.id, "train", _tracked_run(client))
    retry = client.pipelines.finish_step(run.id, "train", "PENDING", error="boom (attempt 1)")
    assert (retry.status, retry.attempt, retry.error) == ("PENDING", 1, "boom (attempt 1)")
    assert client.pipelines.start_step(run.id, "train", _tracked_run(client)).attempt == 2
    failed = client.pipelines.finish_step(run.id, "train", "FAILED", error="ValueError: boom")
    assert (failed.status, failed.error) == ("FAILED", "ValueError: boom")
    client.pipelines.finish_step(run.id, "report", "SKIPPED", error="upstream step 'train' failed")
    client.pipelines.start_step(run.id, "side", _tracked_run(client))  # an independent branch, still running
    ended = client.pipelines.finish_run(run.id, "FAILED", error="step 'train' failed")
    assert (ended.status, ended.error) == ("FAILED", "step 'train' failed")
    states = {s.step: s.status for s in client.pipelines.get_run_detail(run.id).steps}
    assert states == {"load": "SUCCEEDED", "train": "FAILED", "report": "SKIPPED", "side": "FAILED"}
    with pytest.raises(Conflict, match="FAILED, not RUNNING"):
        client.pipelines.start_step(run.id, "train", _tracked_run(client))
    resumed = client.pipelines.resume_run(run.id)
    assert (resumed.status, resumed.attempt, resumed.error, resumed.ended_at) == ("RUNNING", 1, None, None)
    steps = {s.step: (s.status, s.attempt) for s in client.pipelines.get_run_detail(run.id).steps}
    assert steps == {
        "load": ("SUCCEEDED", 1),
        "train": ("PENDING", 2),
        "report": ("PENDING", 0),
        "side": ("PENDING", 1),
    }
    with pytest.raises(InvalidArgument, match="is RUNNING: only FAILED or CANCELLED"):
        client.pipelines.resume_run(run.id)
    with pytest.raises(Conflict, match="SUCCEEDED already"):
        client.pipelines.start_step(run.id, "load", _tracked_run(client))
    assert client.pipelines.start_step(run.id, "train", _tracked_run(client)).attempt == 3


def test_cancel_stops_the_steps(client: Client) -> None:
    name = _name()
    client.pipelines.register_pipeline(spec(name))
    run = client.pipelines.create_run(name, {"n": 1})
    client.pipelines.start_step(run.id, "load", _tracked_run(client))
    cancelled = client.pipelines.cancel_run(run.id)
    assert cancelled.status == "CANCELLED" and cancelled.ended_at is not None
    steps = {s.step: s.status for s in client.pipelines.get_run_detail(run.id).steps}
    assert steps == {"load": "FAILED", "train": "SKIPPED", "report": "SKIPPED", "side": "SKIPPED"}
    with pytest.raises(Conflict, match="CANCELLED"):
        client.pipelines.finish_step(run.id, "load", "SUCCEEDED")
    with pytest.raises(Conflict, match="nothing to cancel"):
        client.pipelines.cancel_run(run.id)
    assert client.pipelines.resume_run(run.id).status == "RUNNING"
    finished = [e.payload["status"] for e in _events(client, "pipeline_run_finished", name)]
    assert finished == ["CANCELLED"]


def test_queued_runs_are_claimed_once(client: Client) -> None:
    name = _name()
    client.pipelines.register_pipeline(spec(name))
    first = client.pipelines.create_run(name, {"n": 1}, trigger="cron", trigger_info={"due": "x"}, queued=True)
    second = client.pipelines.create_run(name, {"n": 2}, trigger="webhook", executor="process", queued=True)
    assert (first.status, first.started_at, first.trigger, first.trigger_info) == ("QUEUED", None, "cron", {"due": "x"})
    queued = [r.id for r in client.pipelines.list_queued(limit=10_000) if r.pipeline == name]
    assert queued == [first.id, second.id]  # oldest first
    with pytest.raises(Conflict, match="QUEUED"):
        client.pipelines.start_step(first.id, "load", _tracked_run(client))
    parent = _tracked_run(client)
    claimed = client.pipelines.claim_run(first.id, run_id=parent)
    assert (claimed.status, claimed.run_id) == ("RUNNING", parent) and claimed.started_at is not None
    with pytest.raises(Conflict, match="RUNNING, not QUEUED"):
        client.pipelines.claim_run(first.id)
    assert [r.id for r in client.pipelines.list_queued(limit=10_000) if r.pipeline == name] == [second.id]
    # Several schedulers race for the same queued run: exactly one wins.
    winners: list[str] = []
    losers: list[Exception] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        try:
            winners.append(client.pipelines.claim_run(second.id).status)
        except Conflict as exc:
            losers.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert winners == ["RUNNING"] and len(losers) == 5
    assert client.pipelines.get_run(second.id).status == "RUNNING"


def test_heartbeats_and_reaping(client: Client) -> None:
    name = _name()
    client.pipelines.register_pipeline(spec(name))
    dead = client.pipelines.create_run(name, {"n": 1})
    alive = client.pipelines.create_run(name, {"n": 1})
    client.pipelines.start_step(dead.id, "load", _tracked_run(client))
    time.sleep(0.6)
    client.pipelines.heartbeat(alive.id)
    assert client.pipelines.get_run(alive.id).heartbeat_at > alive.heartbeat_at  # type: ignore[operator]
    reaped = {r.id: r for r in client.pipelines.reap_stale(stale_after_s=0.5)}
    assert dead.id in reaped and alive.id not in reaped
    assert reaped[dead.id].status == "FAILED"
    error = reaped[dead.id].error or ""
    assert "no heartbeat for 0.5s: the process running it stopped" in error and f"--resume {dead.id}" in error
    steps = {s.step: s.status for s in client.pipelines.get_run_detail(dead.id).steps}
    assert steps == {"load": "FAILED", "train": "SKIPPED", "report": "SKIPPED", "side": "SKIPPED"}
    client.pipelines.heartbeat(alive.id)
    assert dead.id not in {r.id for r in client.pipelines.reap_stale(stale_after_s=0.5)}  # once
    assert client.pipelines.get_run(alive.id).status == "RUNNING"
    assert [e.payload["status"] for e in _events(client, "pipeline_run_finished", name)] == ["FAILED"]
    assert client.pipelines.resume_run(dead.id).attempt == 1
    with pytest.raises(NotFound, match="does not exist"):
        client.pipelines.heartbeat(uuid.uuid4().hex)


def test_list_runs_newest_first_with_filters(client: Client) -> None:
    name, other = _name(), _name()
    client.pipelines.register_pipeline(spec(name))
    client.pipelines.register_pipeline(spec(other))
    ids = [client.pipelines.create_run(name, {"n": i}).id for i in range(3)]
    client.pipelines.create_run(other, {"n": 0})
    client.pipelines.finish_run(ids[1], "SUCCEEDED")
    assert [r.id for r in client.pipelines.list_runs(name)] == ids[::-1]
    assert [r.id for r in client.pipelines.list_runs(name, status="SUCCEEDED")] == [ids[1]]
    assert [r.id for r in client.pipelines.list_runs(name, limit=2)] == ids[:0:-1]
    assert {r.pipeline for r in client.pipelines.list_runs(limit=10_000)} >= {name, other}
    with pytest.raises(NotFound, match="nope-pipe"):
        client.pipelines.list_runs("nope-pipe")
    with pytest.raises(InvalidArgument, match="limit"):
        client.pipelines.list_runs(name, limit=0)


def test_bad_input_names_what_is_wrong(client: Client) -> None:
    name = _name()
    client.pipelines.register_pipeline(spec(name))
    run = client.pipelines.create_run(name, {"n": 1})
    with pytest.raises(NotFound, match="does not exist"):
        client.pipelines.get_run(uuid.uuid4().hex)
    with pytest.raises(NotFound, match="does not exist"):
        client.pipelines.get_run("../../etc")
    with pytest.raises(NotFound, match=r"no step 'nope'.*load, train, report, side"):
        client.pipelines.start_step(run.id, "nope", _tracked_run(client))
    with pytest.raises(InvalidArgument, match="not 'RUNNING'"):
        client.pipelines.finish_step(run.id, "load", "RUNNING")
    with pytest.raises(InvalidArgument, match="cached_from"):
        client.pipelines.finish_step(run.id, "load", "CACHED")
    with pytest.raises(InvalidArgument, match="no param 'm'"):
        client.pipelines.create_run(name, {"n": 1, "m": 2})
    with pytest.raises(InvalidArgument, match="needs param 'n'"):
        client.pipelines.create_run(name, {})
    with pytest.raises(NotFound, match="is not registered"):
        client.pipelines.create_run(_name("ghost"))
    with pytest.raises(InvalidArgument, match="trigger"):
        client.pipelines.create_run(name, {"n": 1}, trigger="sometimes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="status"):
        client.pipelines.list_runs(name, status="DONE")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="finish_run takes"):
        client.pipelines.finish_run(run.id, "RUNNING")
    with pytest.raises(InvalidArgument, match="stale_after_s"):
        client.pipelines.reap_stale(stale_after_s=-1)
    assert client.pipelines.get_run(run.id).status == "RUNNING"  # refused calls changed nothing


def test_bad_specs_are_refused_naming_the_step(client: Client) -> None:
    good = spec(_name())
    twice = good.model_copy(update={"steps": [*good.steps, good.steps[0]]})
    with pytest.raises(InvalidArgument, match="two steps named 'load'"):
        client.pipelines.register_pipeline(twice)
    backwards = good.model_copy(update={"steps": good.steps[::-1]})
    with pytest.raises(InvalidArgument, match=r"input 'model' of step 'report'.*later step"):
        client.pipelines.register_pipeline(backwards)
    wrong_output = good.model_copy(deep=True)
    wrong_output.steps[1].inputs["data"] = InputBinding(kind="step", step="load", output="nope")
    with pytest.raises(InvalidArgument, match="output 'nope' of step 'load'"):
        client.pipelines.register_pipeline(wrong_output)
    with pytest.raises(InvalidArgument, match="invalid pipeline name"):
        client.pipelines.register_pipeline(good.model_copy(update={"name": "../x"}))
    with pytest.raises(NotFound):
        client.pipelines.get_pipeline(good.name)  # nothing was stored


def test_dataset_and_model_outputs_are_their_own_lineage_nodes(client: Client) -> None:
    import pandas as pd

    import treadle as td

    name = _name()
    client.pipelines.register_pipeline(spec(name))
    run = client.pipelines.create_run(name, {"n": 1})
    load_run = _tracked_run(client)
    client.pipelines.start_step(run.id, "load", load_run)
    version = td.datasets.create(_name("ds"), pd.DataFrame({"x": [1, 2]}), client=client)
    data = ref(digest=version.digest, uri=version.uri)
    client.pipelines.finish_step(run.id, "load", "SUCCEEDED", outputs={"output": data})
    dataset_node = client.lineage.find_node(version.uri)
    up = client.lineage.upstream(dataset_node.id, hops=1)
    assert f"run:{load_run}" in {n.external_id for n in up.nodes}
    with pytest.raises(NotFound):  # no second node stands for the same version
        client.lineage.find_node(f"step-output:{run.id}/load/output")
    train_run = _tracked_run(client)
    client.pipelines.start_step(run.id, "train", train_run, inputs=[data])
    client.log_text(train_run, "flavor: sklearn\n", "model/treadle-model.yaml")
    client.log_bytes(train_run, b"model", "model/model.pkl")
    model = _name("model")
    mv = client.registry.create_version(model, f"runs:/{train_run}/model")
    client.pipelines.finish_step(run.id, "train", "SUCCEEDED", outputs={"output": ref(uri=mv.uri)})
    report_run = _tracked_run(client)
    client.pipelines.start_step(run.id, "report", report_run, inputs=[ref(uri=mv.uri)])
    model_node = next(
        n for n in client.lineage.upstream(client.lineage.find_node(f"run:{report_run}").id, 1).nodes if n.uri == mv.uri
    )
    assert model_node.type == "treadle.ModelVersion"
    down = client.lineage.downstream(dataset_node.id, hops=4)
    assert {f"run:{train_run}", f"run:{report_run}"} <= {n.external_id for n in down.nodes}
