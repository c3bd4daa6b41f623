"""The server-side DAG drawing: columns by topological depth, rows untangled, long edges routed
around boxes, statuses as classes, and hostile names escaped."""

from __future__ import annotations

import re

from tests.ui.pipeline_helpers import churn_spec, step_spec
from treadle.orchestration import PipelineSpec
from treadle.ui._pipelines_dag import COL_GAP, NODE_H, NODE_W, depths, layout, render_dag


def test_columns_follow_the_longest_path() -> None:
    spec = churn_spec()
    assert depths(spec) == {"ingest": 0, "clean": 1, "features": 2, "stats": 2, "train": 3, "report": 4}
    lay = layout(spec)
    xs = {n: p.x for n, p in lay.nodes.items()}
    assert xs["features"] == xs["stats"] > xs["clean"] > xs["ingest"]
    assert xs["report"] - xs["train"] == NODE_W + COL_GAP
    assert {(e.src, e.dst) for e in lay.edges} == {
        ("ingest", "clean"), ("clean", "features"), ("clean", "stats"), ("features", "train"),
        ("train", "report"), ("stats", "report"),
    }  # fmt: skip
    assert lay.width == 2 * 8 + 5 * NODE_W + 4 * COL_GAP


def test_a_long_edge_passes_beside_the_boxes_it_skips() -> None:
    lay = layout(churn_spec())
    long = next(e for e in lay.edges if (e.src, e.dst) == ("stats", "report"))
    assert len(long.via) == 1  # it crosses train's column ...
    (x, y), train = long.via[0], lay.nodes["train"]
    assert x == train.x and not train.y <= y <= train.y + NODE_H  # ... beside train, not through it
    for p in lay.nodes.values():  # no two boxes overlap
        for q in lay.nodes.values():
            if p is not q and p.x == q.x:
                assert abs(p.y - q.y) >= NODE_H


def test_fan_in_rows_follow_their_upstream() -> None:
    # b2 feeds d2 and b1 feeds d1: the second column keeps them in the order of their producers.
    spec = PipelineSpec(
        name="x",
        steps=[
            step_spec("a"),
            step_spec("b1", "a"),
            step_spec("b2", "a"),
            step_spec("d2", "b2"),
            step_spec("d1", "b1"),
        ],
    )
    nodes = layout(spec).nodes
    assert nodes["d1"].y < nodes["d2"].y and nodes["b1"].y < nodes["b2"].y


def test_a_cycle_does_not_hang_and_unknown_steps_are_ignored() -> None:
    spec = PipelineSpec(name="bad", steps=[step_spec("a", "b"), step_spec("b", "a"), step_spec("c", "ghost")])
    lay = layout(spec)
    assert set(lay.nodes) == {"a", "b", "c"}
    assert all(e.dst != "c" for e in lay.edges)


def test_statuses_colour_boxes_and_done_edges() -> None:
    svg = render_dag(churn_spec(), {"ingest": "SUCCEEDED", "clean": "FAILED", "features": "SKIPPED"},
                     link=lambda s: f"#step-{s}")  # fmt: skip
    assert re.search(r'<g class="dag-node status-succeeded" data-step="ingest" data-status="SUCCEEDED"', svg)
    assert 'class="dag-node status-failed" data-step="clean"' in svg
    assert 'class="dag-node" data-step="report" data-status=""' in svg  # no status: plain
    assert re.search(r'<path class="dag-edge done" data-from="ingest" data-to="clean"', svg)
    assert re.search(r'<path class="dag-edge" data-from="clean" data-to="features"', svg)
    assert '<a href="#step-train">' in svg
    assert svg.count("<g class=") == 6 and svg.count('marker-end="url(#dag-arrow)"') == 6


def test_names_are_escaped_and_long_ones_shortened() -> None:
    evil = "<script>alert(1)</script>_and_a_very_long_name"
    svg = render_dag(PipelineSpec(name="p&q", steps=[step_spec(evil)]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'aria-label="p&amp;q pipeline graph"' in svg
    assert "…</text>" in svg  # the box shows a shortened name; the tooltip has it all
    assert f"<title>{evil.replace('<', '&lt;').replace('>', '&gt;')}</title>" in svg


def test_outputs_that_are_registered_versions_link_their_pages() -> None:
    from treadle.ui._pipelines_view import uri_link

    assert uri_link("/ui", "datasets:/iris/3") == "/ui/datasets/iris/3"
    assert uri_link("", "models:/churn model/2") == "/models/churn%20model/versions/2"
    assert uri_link("", "models:/churn@champion") is None  # an alias moves: no fixed page
    assert uri_link("", "s3://bucket/x") is None and uri_link("", None) is None


def test_schedules_read_like_the_cli_that_made_them() -> None:
    from treadle.orchestration import Schedule
    from treadle.ui._pipelines import describe_schedule

    def make(**kw: object) -> Schedule:
        return Schedule.model_validate({"id": 1, "pipeline": "p", "created_at": 0, **kw})

    assert describe_schedule(make(kind="cron", cron="0 3 * * *")) == "cron 0 3 * * *"
    assert describe_schedule(make(kind="cron", cron="0 3 * * *", timezone="Europe/Paris")).endswith("(Europe/Paris)")
    assert describe_schedule(make(kind="event", events=["alias_moved"], filter={"name": "m"})) == (
        "on alias_moved where name=m"
    )
    assert describe_schedule(make(kind="pipeline", upstream="etl")) == "after etl succeeds"
    assert describe_schedule(make(kind="webhook")) == "webhook"
