"""The pipeline pages in headless Chromium, over runs of the real engine: the list, a pipeline's
DAG, and a run page that follows a running pipeline live (htmx polling) until it ends, then stops
polling. Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.helpers import shot
from treadle import Client
from treadle.errors import NotFound
from treadle.pipelines import pipeline, step
from treadle.server import create_app
from treadle.testing.server import serve

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE_TIMEOUT_MS = 12_000  # the page polls every 2 s; allow a few polls on a busy machine


@step
def load(n: int) -> list[int]:
    print(f"loaded {n} rows")
    return list(range(n))


@step(cache=False)
def wait(xs: list[int], gate: str) -> int:
    """Blocks until the test creates the file ``gate`` (steps are pickled: no shared Event)."""
    deadline = time.monotonic() + 60
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never opened the gate")
        time.sleep(0.05)
    return len(xs)


@step
def square(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


@step
def summary(n: int, sq: list[int]) -> str:
    return f"{n} rows, sum of squares {sum(sq)}"


@pipeline(name="ui-live")
def live_flow(gate: str, n: int = 4) -> str:
    xs = load(n)
    return summary(wait(xs, gate), square(xs))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Client, Path]]:
    root: Path = tmp_path_factory.mktemp("ui-pipelines-browser")
    uri, artifacts = f"sqlite:///{root / 'b.db'}", str(root / "art")
    with serve(create_app(uri=uri, artifacts=artifacts)) as url:
        yield url, Client(uri=uri, artifacts=artifacts), root


def running_run(client: Client, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = client.pipelines.list_runs(pipeline="ui-live", status="RUNNING")
        except NotFound:  # not registered yet: the run is about to start
            found = []
        if found and any(s.status == "RUNNING" for s in client.pipelines.get_run_detail(found[0].id).steps):
            return found[0].id
        time.sleep(0.05)
    raise AssertionError("the pipeline never started")


def node(page: Any, step_name: str) -> Any:
    return page.locator(f'#dag g.dag-node[data-step="{step_name}"]')


def test_a_running_pipeline_updates_live(page: Any, server: tuple[str, Client, Path]) -> None:
    url, client, root = server
    gate = root / "gate"
    results: list[Any] = []
    run = lambda: results.append(live_flow.run(gate=str(gate), n=4, client=client))  # noqa: E731
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        run_id = running_run(client)
        page.goto(url + "/")
        page.get_by_role("link", name="Pipelines", exact=True).click()
        expect(page).to_have_url(url + "/pipelines")
        listed = page.locator('#pipelines tr[data-pipeline="ui-live"]')
        expect(listed.locator(".last-run .status")).to_have_text("running")
        listed.locator("a.pipeline-link").click()
        expect(page.locator("h1")).to_contain_text("ui-live")
        expect(page.locator("#dag g.dag-node")).to_have_count(4)
        page.locator(f'#pipeline-runs tr[data-run="{run_id}"] a.prun-link').click()
        expect(page).to_have_url(f"{url}/pipelines/runs/{run_id}")
        expect(node(page, "wait")).to_have_attribute("data-status", "RUNNING")
        expect(node(page, "load")).to_have_attribute("data-status", "SUCCEEDED")
        expect(page.locator("#run-live .live-dot")).to_have_count(1)
        shot(page, "pipeline-run-live")
        gate.touch()  # the step finishes; the open page follows without a reload
        expect(node(page, "summary")).to_have_attribute("data-status", "SUCCEEDED", timeout=LIVE_TIMEOUT_MS)
        expect(page.locator("#run-status .status")).to_have_text("succeeded")
        expect(page.locator("#run-live .live-dot")).to_have_count(0)  # finished: polling stopped
        expect(page.locator("#run-live")).to_have_count(1)  # swapped whole, not nested
        expect(page).to_have_url(f"{url}/pipelines/runs/{run_id}")
        shot(page, "pipeline-run-done")
    finally:
        gate.touch()
        worker.join(timeout=60)
    assert results and results[0].status == "SUCCEEDED" and results[0].output == "4 rows, sum of squares 14"

    # A box in the DAG jumps to its step's row; the row links the step's log.
    node(page, "load").click()
    expect(page).to_have_url(f"{url}/pipelines/runs/{run_id}#step-load")
    page.locator("#step-load a.step-log").click()
    expect(page.locator("#step-log")).to_contain_text("loaded 4 rows")
    page.go_back()
    page.locator("#step-load a.step-run").click()
    expect(page).to_have_url(f"{url}/runs/{client.pipelines.get_run_detail(run_id).steps[0].run_id}")
