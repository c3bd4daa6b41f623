"""Tracing and validation: the DAG is static, known and checked before anything runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from treadle.client import Client
from treadle.errors import InvalidArgument, NotFound
from treadle.orchestration import InputBinding, PipelineSpec, StepSpec
from treadle.pipelines import load_pipeline, make_executor, pipeline, run_queued, step
from treadle.pipelines._dag import check_spec, descendants


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'dag.db'}", str(tmp_path / "artifacts"))


@step
def make(n: int) -> list[int]:
    return list(range(n))


@step(outputs=("head", "tail"))
def halves(xs: list[int]) -> tuple[list[int], list[int]]:
    return xs[: len(xs) // 2], xs[len(xs) // 2 :]


@step
def count(xs: list[int]) -> int:
    return len(xs)


@step
def describe(df: pd.DataFrame) -> str:
    return str(df.shape)


@step
def label(n: int) -> str:
    return f"n={n}"


@pipeline
def shapes(n: int = 4, tag: str = "x") -> dict[str, int]:
    head, tail = halves(make(n))
    return {"head": count(head), "tail": count(tail)}


def test_trace_builds_the_static_dag() -> None:
    spec = shapes.spec
    assert [s.name for s in spec.steps] == ["make", "halves", "count", "count_2"]
    assert spec.steps[0].inputs["n"] == InputBinding(kind="param", param="n")
    assert spec.steps[1].outputs == ["head", "tail"]
    assert spec.steps[3].inputs["xs"] == InputBinding(kind="step", step="halves", output="tail")
    assert spec.steps[0].input_types == {"n": "int"} and spec.steps[0].output_types == {"output": "list[int]"}
    assert [(p.name, p.type, p.default, p.required) for p in spec.params] == [
        ("n", "int", 4, False),
        ("tag", "str", "x", False),
    ]
    assert spec.output == {"head": {"$ref": "count.output"}, "tail": {"$ref": "count_2.output"}}
    assert spec.source == f"{__name__}:shapes"
    assert descendants(spec, "halves") == {"count", "count_2"}


def test_control_flow_on_a_parameter_is_refused() -> None:
    @pipeline
    def branchy(flag: bool) -> int:
        if flag:
            return count(make(3))
        return count(make(4))

    with pytest.raises(InvalidArgument, match=r"cannot test the pipeline parameter 'flag'.*static"):
        _ = branchy.spec


def test_iterating_a_step_output_is_refused() -> None:
    @pipeline
    def loopy() -> list[int]:
        return [count(x) for x in make(3)]

    with pytest.raises(InvalidArgument, match="cannot iterate over the output 'output' of step 'make'"):
        _ = loopy.spec


def test_missing_input_is_named_before_the_run(client: Client) -> None:
    @pipeline
    def incomplete() -> int:
        return count()

    with pytest.raises(InvalidArgument, match="step 'count' in pipeline 'incomplete' is missing input 'xs'"):
        incomplete.run(client=client)
    assert client.pipelines.list_runs() == []


def test_type_mismatch_between_steps_is_refused() -> None:
    @pipeline
    def mismatched() -> str:
        return describe(make(3))

    with pytest.raises(InvalidArgument, match=r"type mismatch: input 'df' of step 'describe'.*DataFrame.*list"):
        _ = mismatched.spec


def test_type_mismatch_of_param_and_constant() -> None:
    @pipeline
    def wrong_param(n: str) -> str:
        return label(n)

    with pytest.raises(InvalidArgument, match="expects int but pipeline parameter 'n' is str"):
        _ = wrong_param.spec

    @pipeline
    def wrong_constant() -> str:
        return label("three")

    with pytest.raises(InvalidArgument, match="expects int, got constant 'three'"):
        _ = wrong_constant.spec


def test_non_json_constant_is_refused() -> None:
    @pipeline
    def frame_constant() -> str:
        return describe(pd.DataFrame({"a": [1]}))

    with pytest.raises(InvalidArgument, match="constant DataFrame"):
        _ = frame_constant.spec


def test_params_are_checked_before_anything_is_written(client: Client) -> None:
    with pytest.raises(InvalidArgument, match=r"has no parameter 'size'.*n=4, tag='x'"):
        shapes.run(size=3, client=client)
    with pytest.raises(InvalidArgument, match="parameter 'n' of pipeline 'shapes' is int, got str"):
        shapes.run(n="four", client=client)
    with pytest.raises(InvalidArgument, match="needs parameter 'n'"):
        shapes_required.run(client=client)
    with pytest.raises(NotFound):
        client.pipelines.get_pipeline("shapes")


@pipeline(name="shapes-required")
def shapes_required(n: int) -> int:
    return count(make(n))


def _spec(*steps: StepSpec) -> PipelineSpec:
    return PipelineSpec(name="hand", steps=list(steps))


def _node(name: str, source: str | None = None) -> StepSpec:
    inputs = {"x": InputBinding(kind="step", step=source, output="output")} if source else {}
    return StepSpec(name=name, function=f"m:{name}", code_digest="0", inputs=inputs)


def test_cycle_in_a_hand_built_spec_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"has a cycle: .*a.*b"):
        check_spec(_spec(_node("a", "b"), _node("b", "a")))


def test_hand_built_spec_is_sorted_and_dangling_references_named() -> None:
    ordered = check_spec(_spec(_node("c", "b"), _node("b", "a"), _node("a")))
    assert [s.name for s in ordered.steps] == ["a", "b", "c"]
    with pytest.raises(InvalidArgument, match="input 'x' of step 'b' comes from step 'ghost'"):
        check_spec(_spec(_node("b", "ghost")))


def test_unknown_executor_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgument, match="unknown executor 'kubernetes': use one of inprocess, process, ray"):
        make_executor("kubernetes")
    assert make_executor(None).name == "inprocess"


def test_load_pipeline_from_a_file_and_run_it_queued(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "flows.py"
    source.write_text(
        textwrap.dedent(
            """
            from treadle.pipelines import pipeline, step

            @step
            def double(x: int) -> int:
                return 2 * x

            @pipeline
            def doubler(x: int = 1) -> int:
                return double(double(x))
            """
        )
    )
    flow = load_pipeline(f"{source}:doubler")
    assert flow.spec.source == f"{source}:doubler" and flow.spec.workdir == str(tmp_path)
    client.pipelines.register_pipeline(flow.spec)
    queued = client.pipelines.create_run("doubler", {"x": 5}, queued=True)
    assert queued.status == "QUEUED"
    result = run_queued(queued.id, client=client)
    assert result.id == queued.id and result.status == "SUCCEEDED" and result.output == 20
    assert client.tracking.get_run(result.run_id or "").tags["treadle.pipeline.trigger"] == "manual"
    with pytest.raises(NotFound, match="no attribute 'missing'"):
        load_pipeline(f"{source}:missing")
    with pytest.raises(InvalidArgument, match=r"must be 'package.module:attr'"):
        load_pipeline("no-colon")


def test_a_failed_scheduled_run_resumes_with_the_pipelines_own_executor(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "flaky.py"
    flag = tmp_path / "ok"
    source.write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from treadle.pipelines import pipeline, step

            @step
            def flaky(x: int) -> int:
                if not Path({str(flag)!r}).exists():
                    raise RuntimeError("not yet")
                return x + 1

            @pipeline
            def once(x: int = 1) -> int:
                return flaky(x)
            """
        )
    )
    flow = load_pipeline(f"{source}:once")
    client.pipelines.register_pipeline(flow.spec)
    queued = client.schedules.trigger("once")  # a schedule's or webhook's run: executor "default"
    assert run_queued(queued.id, client=client).status == "FAILED"
    flag.touch()
    resumed = flow.resume(queued.id, client=client)  # not "unknown executor 'default'"
    assert resumed.status == "SUCCEEDED" and resumed.output == 2
