"""The demo's pipelines scenario, played after the data scenario it reads from (as ``treadle demo``
plays them), twice: the gate registers two versions the first time and none the second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import treadle as td
from treadle.cli import _demo_pipelines as demo
from treadle.cli._demo import populate, scenarios
from treadle.cli._demo_data import DATA
from treadle.client import _fluent as fluent


@pytest.fixture
def client(tmp_path: Path) -> Iterator[td.Client]:
    c = fluent.set_uri(f"sqlite:///{tmp_path / 'demo.db'}", str(tmp_path / "artifacts"))
    yield c
    while fluent.active_run() is not None:
        fluent.end_run()


def test_demo_plays_the_pipelines_scenario_after_the_data(client: td.Client) -> None:
    names = [s.name for s in scenarios()]
    assert names.index(demo.EXPERIMENT) > names.index(DATA.name)


@pytest.mark.slow
def test_pipelines_scenario_gates_both_ways_and_reruns_cleanly(client: td.Client) -> None:
    populate(client, [DATA])
    started = time.monotonic()
    ctx = populate(client, [demo.PIPELINES])
    elapsed = time.monotonic() - started
    outcomes = dict(ctx.shared["pipeline_outcomes"])
    assert outcomes["shallow tree"]["registered"] and outcomes["shallow tree"]["version"] == 1
    assert outcomes["tuned forest"]["registered"] and outcomes["tuned forest"]["version"] == 2
    held = outcomes["majority baseline"]
    assert not held["registered"] and "does not beat the champion (iris-pipeline v2" in held["reason"]
    assert client.get_model_version_by_alias(demo.MODEL_NAME, "champion").version == 2
    predictor = client.load_model(f"models:/{demo.MODEL_NAME}@champion")
    assert list(predictor.input_example.columns) == demo.FEATURES
    assert elapsed < 60  # the demo budget is < 30 s on an idle machine; this one is shared

    pipeline = client.pipelines.get_pipeline("iris-training")
    runs = client.pipelines.list_runs("iris-training")
    assert len(runs) == 3 and {r.status for r in runs} == {"SUCCEEDED"} and pipeline.last_status == "SUCCEEDED"
    detail = client.pipelines.get_run_detail(runs[0].id)
    assert [s.step for s in detail.steps] == ["ingest", "validate", "split", "tune", "train", "evaluate", "register"]
    studies = [s for s in client.tuning.list_studies() if s.name.startswith("tune-")]
    assert sorted(s.n_complete for s in studies) == [2, 2, 4]

    again = dict(populate(client, [demo.PIPELINES]).shared["pipeline_outcomes"])  # a second `treadle demo`
    assert not any(r["registered"] for r in again.values())
    assert client.registry.get_model(demo.MODEL_NAME).latest_version == 2
    rerun = client.pipelines.get_run_detail(client.pipelines.list_runs("iris-training")[0].id)
    assert {s.step: s.status for s in rerun.steps}["split"] == "CACHED"
