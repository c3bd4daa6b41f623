"""Step caching: hits when code, params and input contents are equal; misses otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from treadle.client import Client
from treadle.pipelines import Pipeline, PipelineResult, Step, pipeline, step


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(f"sqlite:///{tmp_path / 'cache.db'}", str(tmp_path / "artifacts"))


@step
def parity(n: int) -> int:
    return n % 2


@step
def describe(p: int, word: str) -> str:
    return f"{word}:{p}"


@pipeline
def flow(n: int, word: str = "parity") -> str:
    return describe(parity(n), word)


def statuses(result: PipelineResult) -> dict[str, str]:
    return {name: run.status for name, run in result.steps.items()}


def test_second_run_is_cached_and_linked_to_the_original(client: Client) -> None:
    first = flow.run(n=3, client=client)
    second = flow.run(n=3, client=client)
    assert statuses(first) == {"parity": "SUCCEEDED", "describe": "SUCCEEDED"}
    assert statuses(second) == {"parity": "CACHED", "describe": "CACHED"}
    assert second.output == first.output == "parity:1"
    cached = second.steps["describe"]
    assert cached.cached_from == f"{first.id}/describe"
    assert cached.outputs == first.steps["describe"].outputs
    tracked = client.tracking.get_run(cached.run_id or "")
    assert tracked.tags["treadle.pipeline.cached_from"] == f"{first.id}/describe"
    assert tracked.parent_id == second.run_id and tracked.status == "FINISHED"
    third = flow.run(n=3, client=client)  # a cached step links to the original, not to a copy
    assert third.steps["describe"].cached_from == f"{first.id}/describe"


def test_param_change_misses_only_where_it_flows(client: Client) -> None:
    flow.run(n=3, client=client)
    changed = flow.run(n=3, word="odd", client=client)
    assert statuses(changed) == {"parity": "CACHED", "describe": "SUCCEEDED"}
    assert changed.output == "odd:1"


def test_input_change_is_by_content(client: Client) -> None:
    flow.run(n=3, client=client)
    other = flow.run(n=4, client=client)  # parity re-runs and yields 0: describe's input changed
    assert statuses(other) == {"parity": "SUCCEEDED", "describe": "SUCCEEDED"}
    same_content = flow.run(n=5, client=client)  # parity re-runs but yields 1 again: describe hits
    assert statuses(same_content) == {"parity": "SUCCEEDED", "describe": "CACHED"}


def _versioned(body: str, version: str | None = None) -> Step:
    namespace: dict[str, Any] = {}
    exec(f"def shout(word: str) -> str:\n    return {body}\n", namespace)  # a changed function body
    return step(cache_version=version)(namespace["shout"])


def test_code_change_and_cache_version_miss(client: Client) -> None:
    def build(shout: Step) -> Pipeline:
        @pipeline(name="shouting")
        def shouting(word: str) -> str:
            return shout(word)

        return shouting

    upper = build(_versioned("word.upper()"))
    assert statuses(upper.run(word="hi", client=client)) == {"shout": "SUCCEEDED"}
    assert statuses(upper.run(word="hi", client=client)) == {"shout": "CACHED"}
    exclaim = build(_versioned("word.upper() + '!'"))
    result = exclaim.run(word="hi", client=client)
    assert statuses(result) == {"shout": "SUCCEEDED"} and result.output == "HI!"
    bumped = build(_versioned("word.upper() + '!'", version="2"))
    assert statuses(bumped.run(word="hi", client=client)) == {"shout": "SUCCEEDED"}


calls: list[str] = []


@step(cache=False)
def uncached(x: int) -> int:
    calls.append("uncached")
    return x


@step(reads_mutable=True)
def reads_table(x: int) -> int:
    calls.append("reads_table")
    return x


@pipeline
def never_cached(x: int = 1) -> list[int]:
    return [uncached(x), reads_table(x)]


def test_cache_false_and_reads_mutable_always_run(client: Client) -> None:
    calls.clear()
    for _ in range(2):
        result = never_cached.run(client=client)
        assert statuses(result) == {"uncached": "SUCCEEDED", "reads_table": "SUCCEEDED"}
        assert result.steps["reads_table"].cache_key is None
    assert calls == ["uncached", "reads_table"] * 2
