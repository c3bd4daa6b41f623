"""The pipeline pages over runs made by the real engine (``@step`` / ``@pipeline``, in-process):
a first run, a second one served from the cache, and one whose step fails; what the engine records
(step logs, outputs, cached markers, the failed step's error) must show up and link correctly."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from treadle import Client
from treadle.pipelines import pipeline, step
from treadle.server import create_app
from treadle.testing.server import serve


@step
def make(n: int) -> list[int]:
    print(f"making {n} numbers")
    return list(range(n))


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@step
def count(xs: list[int]) -> int:
    return len(xs)


@step
def report(t: int, n: int) -> str:
    if n > 50:
        raise ValueError(f"too many numbers: {n}")
    return f"{t}/{n}"


@pipeline(name="ui-numbers")
def numbers(n: int = 5) -> str:
    xs = make(n)
    return report(total(xs), count(xs))


@dataclass
class Runs:
    uri: str
    artifacts: str
    first: str
    cached: str
    failed: str


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    root: Path = tmp_path_factory.mktemp("ui-engine")
    uri, artifacts = f"sqlite:///{root / 'e.db'}", str(root / "art")
    client = Client(uri=uri, artifacts=artifacts)
    first = numbers.run(n=5, client=client)
    cached = numbers.run(n=5, client=client)
    failed = numbers.run(n=60, client=client, raise_on_failure=False)
    assert (first.status, cached.status, failed.status) == ("SUCCEEDED", "SUCCEEDED", "FAILED")
    return Runs(uri, artifacts, first.id, cached.id, failed.id)


@pytest.fixture(scope="module")
def http(runs: Runs) -> Iterator[httpx.Client]:
    with serve(create_app(uri=runs.uri, artifacts=runs.artifacts)) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def statuses(html: str) -> dict[str, str]:
    return dict(re.findall(r'<g class="dag-node[^"]*" data-step="(\w+)" data-status="(\w*)"', html))


def test_list_and_pipeline_page(http: httpx.Client, runs: Runs) -> None:
    text = http.get("/pipelines").text
    row = re.search(r'<tr data-pipeline="ui-numbers">(.*?)</tr>', text, re.S)
    assert row and "status-failed" in row.group(1) and runs.failed[:8] in row.group(1)
    page = http.get("/pipelines/ui-numbers").text
    assert re.findall(r'<tr data-step="(\w+)">', page) == ["make", "total", "count", "report"]
    assert {(a, b) for a, b in re.findall(r'data-from="(\w+)" data-to="(\w+)"', page)} == {
        ("make", "total"), ("make", "count"), ("total", "report"), ("count", "report"),
    }  # fmt: skip
    assert re.findall(r'<tr data-run="(\w+)">', page) == [runs.failed, runs.cached, runs.first]


def test_first_run_outputs_and_logs(http: httpx.Client, runs: Runs) -> None:
    text = http.get(f"/pipelines/runs/{runs.first}").text
    assert statuses(text) == dict.fromkeys(["make", "total", "count", "report"], "SUCCEEDED")
    row = re.search(r'<tr id="step-total".*?</tr>', text, re.S).group(0)  # type: ignore[union-attr]
    link = re.search(r'class="output-link" href="([^"]+)"', row)
    assert link and http.get(link.group(1)).json() == 10  # sum(range(5)), as the engine stored it
    log = re.search(r'id="step-make".*?class="step-log" href="([^"]+)"', text, re.S)
    assert log and "making 5 numbers" in http.get(log.group(1)).text


def test_cached_run_links_the_original(http: httpx.Client, runs: Runs) -> None:
    text = http.get(f"/pipelines/runs/{runs.cached}").text
    assert statuses(text) == dict.fromkeys(["make", "total", "count", "report"], "CACHED")
    make_row = re.search(r'<tr id="step-make".*?</tr>', text, re.S).group(0)  # type: ignore[union-attr]
    assert f'href="/pipelines/runs/{runs.first}#step-make"' in make_row
    log = re.search(r'class="step-log" href="([^"]+)"', make_row)
    assert log and log.group(1) == f"/pipelines/runs/{runs.first}/steps/make/log"
    assert "making 5 numbers" in http.get(log.group(1)).text
    link = re.search(r'class="output-link" href="([^"]+)"', make_row)
    assert link and http.get(link.group(1)).json() == [0, 1, 2, 3, 4]


def test_failed_run_shows_the_error(http: httpx.Client, runs: Runs) -> None:
    text = http.get(f"/pipelines/runs/{runs.failed}").text
    got = statuses(text)
    assert got["report"] == "FAILED" and got["make"] == "SUCCEEDED"
    row = re.search(r'<tr id="step-report".*?</tr>', text, re.S).group(0)  # type: ignore[union-attr]
    assert "too many numbers: 60" in row
    assert "hx-trigger" not in text
