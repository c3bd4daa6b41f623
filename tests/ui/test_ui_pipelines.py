"""Pipeline pages over HTTP (no browser): the list with last runs and schedules, a pipeline's DAG,
steps and runs, a run's coloured DAG and step table (cached marker, tracked runs, outputs, logs),
the live fragment that stops polling once the run is over, and the friendly 404s.

The runs are recorded through the real pipelines, schedules and tracking services (pipeline_helpers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from tests.ui.pipeline_helpers import PIPELINE, PipeSeed, seed_pipelines
from treadle import Client
from treadle.server import create_app
from treadle.testing.server import serve


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> PipeSeed:
    seed = seed_pipelines(tmp_path_factory.mktemp("ui-pipelines"))
    client = Client(uri=seed.uri, artifacts=seed.artifacts)
    client.schedules.create_schedule(PIPELINE, "cron", cron="0 3 * * *")
    client.schedules.create_schedule(PIPELINE, "event", events=["dataset_version_created"], filter={"name": "churn"})
    return seed


@pytest.fixture(scope="module")
def http(seeded: PipeSeed) -> Iterator[httpx.Client]:
    with serve(create_app(uri=seeded.uri, artifacts=seeded.artifacts)) as url, httpx.Client(base_url=url) as c:
        yield c


def flat(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def step_row(html: str, step: str) -> str:
    found = re.search(rf'<tr id="step-{step}" data-step="{step}" data-status="(\w+)">(.*?)</tr>', html, re.S)
    assert found, step
    return found.group(0)


def test_nav_and_list(http: httpx.Client, seeded: PipeSeed) -> None:
    assert 'href="/pipelines"' in http.get("/models").text
    r = http.get("/pipelines")
    assert r.status_code == 200 and re.search(r'href="/pipelines" aria-current="page"', r.text)
    row = re.search(rf'<tr data-pipeline="{PIPELINE}">(.*?)</tr>', r.text, re.S)
    assert row
    text = flat(row.group(1))
    assert text.startswith(f"{PIPELINE} Train the churn model 6 running {seeded.live[:8]}")
    assert "cron 0 3 * * *" in text and "on dataset_version_created where name=churn" in text
    recent = re.findall(r'<tr data-run="(\w+)">', r.text)
    assert recent == [seeded.live, seeded.failed, seeded.ok]  # newest first


def test_empty_list_says_how_to_start(tmp_path: Path) -> None:
    with serve(create_app(uri=f"sqlite:///{tmp_path / 'e.db'}", artifacts=str(tmp_path / "a"))) as url:
        text = httpx.get(url + "/pipelines").text
    assert 'id="pipelines"' not in text and "treadle pipelines run" in text


def test_pipeline_page_draws_the_dag_before_any_status(http: httpx.Client, seeded: PipeSeed) -> None:
    r = http.get(f"/pipelines/{PIPELINE}")
    assert r.status_code == 200
    svg = re.search(r'<svg class="dag".*?</svg>', r.text, re.S)
    assert svg and svg.group(0).count('<g class="dag-node"') == 6  # uncoloured: no run shown
    assert 'data-from="stats" data-to="report"' in svg.group(0)
    steps = re.findall(r'<tr data-step="(\w+)">', r.text)
    assert steps == ["ingest", "clean", "features", "stats", "train", "report"]
    assert "rows ← param rows" in flat(r.text) and "in_train ← train.output" in flat(r.text)
    assert re.findall(r'<tr data-run="(\w+)">', r.text) == [seeded.live, seeded.failed, seeded.ok]
    assert len(re.findall(r'<li data-schedule="\d+">', r.text)) == 2


def test_succeeded_run_links_tracked_runs_outputs_and_logs(http: httpx.Client, seeded: PipeSeed) -> None:
    r = http.get(f"/pipelines/runs/{seeded.ok}")
    assert r.status_code == 200
    assert r.text.count('class="dag-node status-succeeded"') == 6
    assert 'hx-trigger="every' not in r.text  # finished: no polling
    row = step_row(r.text, "train")
    run_id = seeded.step_runs["ok/train"]
    assert f'href="/runs/{run_id}"' in row
    link = re.search(r'<a class="output-link" href="([^"]+)">output</a>', row)
    assert link and link.group(1) == f"/api/v1/runs/{run_id}/artifacts/outputs/output.json?download=1"
    assert http.get(link.group(1)).content == b"5"  # len("train"), as the step wrote it
    log = re.search(r'<a class="step-log" href="([^"]+)">', row)
    assert log and log.group(1) == f"/pipelines/runs/{seeded.ok}/steps/train/log"
    page = http.get(log.group(1))
    assert page.status_code == 200
    assert "train: working\ntrain: done &lt;ok&gt;" in page.text  # escaped, line breaks kept
    download = re.search(r'id="log-download" href="([^"]+)"', page.text)
    assert download and http.get(unescape(download.group(1))).text.startswith("train: working")


def test_failed_run_shows_cached_marker_error_and_skips(http: httpx.Client, seeded: PipeSeed) -> None:
    text = http.get(f"/pipelines/runs/{seeded.failed}").text
    assert 'class="dag-node status-cached" data-step="ingest"' in text
    assert 'class="dag-node status-failed" data-step="clean"' in text
    assert text.count('class="dag-node status-skipped"') == 4
    ingest = step_row(text, "ingest")
    assert f'<a class="cached-from small" href="/pipelines/runs/{seeded.ok}#step-ingest"' in ingest
    # the reused output downloads from the run that produced it
    assert f'href="/api/v1/runs/{seeded.step_runs["ok/ingest"]}/artifacts/outputs/output.json?download=1"' in ingest
    assert f'class="step-log" href="/pipelines/runs/{seeded.ok}/steps/ingest/log"' in ingest  # the original's log
    assert "ValueError: column &#39;plan&#39; is empty" in step_row(text, "clean")
    assert "step clean failed" in flat(re.search(r'id="run-error".*?</p>', text, re.S).group(0))  # type: ignore[union-attr]
    counts = flat(re.search(r'class="step-counts">(.*?)</span>\s*</div>', text, re.S).group(1))  # type: ignore[union-attr]
    assert counts == "1 cached 1 failed 4 skipped"
    hint = flat(re.search(r'id="resume-hint">(.*?)</p>', text, re.S).group(1))  # type: ignore[union-attr]
    assert hint.endswith(f"treadle pipelines run --resume {seeded.failed}")


def test_live_run_polls_until_it_finishes(http: httpx.Client, seeded: PipeSeed) -> None:
    text = http.get(f"/pipelines/runs/{seeded.live}").text
    assert f'hx-get="/pipelines/runs/{seeded.live}/live" hx-trigger="every 2s" hx-swap="outerHTML"' in text
    assert 'class="dag-node status-running" data-step="clean"' in text
    assert "so far" in step_row(text, "clean")  # elapsed time of a running step
    client = Client(uri=seeded.uri, artifacts=seeded.artifacts)
    live = http.get(f"/pipelines/runs/{seeded.live}/live")
    assert live.status_code == 200 and live.text.lstrip().startswith("<section") and "<html" not in live.text
    client.pipelines.cancel_run(seeded.live)
    done = http.get(f"/pipelines/runs/{seeded.live}/live").text
    assert 'data-status="CANCELLED"' in done and "hx-trigger" not in done


def test_missing_things_are_friendly_404s(http: httpx.Client, seeded: PipeSeed) -> None:
    r = http.get("/pipelines/nope")
    assert r.status_code == 404 and "no pipeline named &#39;nope&#39;" in r.text
    r = http.get("/pipelines/runs/nope")
    assert r.status_code == 404 and "no pipeline run with id" in r.text
    assert http.get("/pipelines/runs/nope/live").status_code == 404
    r = http.get(f"/pipelines/runs/{seeded.failed}/steps/report/log")
    assert r.status_code == 404 and "has not started step &#39;report&#39;" in r.text
    assert http.get(f"/pipelines/runs/{seeded.ok}/steps/ghost/log").status_code == 404
