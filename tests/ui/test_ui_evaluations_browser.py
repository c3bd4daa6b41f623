"""The evaluation pages in headless Chromium: from the list to an evaluation (plots drawn, gate,
importance bars), back to tick two evaluations and compare them, and on to the model's history.
Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.evaluation_helpers import MODEL, EvalSeed, seed_evaluations
from tests.ui.helpers import shot
from treadle.server import create_app
from treadle.testing.server import serve

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EvalSeed]]:
    seed = seed_evaluations(tmp_path_factory.mktemp("ui-evaluations-browser"))
    with serve(create_app(uri=seed.uri, artifacts=seed.artifacts)) as url:
        yield url, seed


def test_list_detail_and_compare(page: Any, server: tuple[str, EvalSeed]) -> None:
    url, seed = server
    v1, v2, _ = seed.runs
    page.goto(url + "/")
    page.locator("header.topbar").get_by_role("link", name="Evaluations", exact=True).click()
    expect(page).to_have_url(url + "/evaluations")
    expect(page.locator("#evaluations tbody tr")).to_have_count(3)
    page.locator(f'#evaluations tr[data-run="{v2}"] a.evaluation-link').click()
    expect(page).to_have_url(url + f"/evaluations/{v2}")
    expect(page.locator("#blessing")).to_have_text("not blessed")
    expect(page.locator('figure[data-plot="roc"] svg')).to_be_visible()
    expect(page.locator('figure[data-plot="confusion_matrix"] svg')).to_be_visible()
    expect(page.locator("#checks tr.check.failed")).to_contain_text("roc_auc")
    expect(page.locator('#slices-table tr[data-slice="region=eu"]')).to_be_visible()
    bars = {
        f: page.locator(f'#importance rect.bar[data-feature="{f}"]').bounding_box()["width"]
        for f in ("tenure", "spend")
    }
    assert bars["tenure"] > bars["spend"]  # tenure carries twice spend's weight in the label
    shot(page, "evaluation")
    page.locator("#version-link").click()
    expect(page).to_have_url(url + f"/models/{MODEL}/versions/2")
    page.locator("header.topbar").get_by_role("link", name="Evaluations", exact=True).click()
    page.locator(f'#evaluations tr[data-run="{v1}"] input[type=checkbox]').check()
    page.locator(f'#evaluations tr[data-run="{v2}"] input[type=checkbox]').check()
    page.locator("#compare-button").click()
    expect(page.locator("h1")).to_have_text("Compare 2 evaluations")
    best = page.locator('#compare-metrics tr[data-metric="accuracy"] td.best')
    expect(best).to_have_count(1)
    runs = page.locator("#compare-metrics thead th[data-run]")
    column = [runs.nth(i).get_attribute("data-run") for i in range(2)].index(v2)  # the list's order: newest first
    expect(runs.nth(column)).to_contain_text(f"{MODEL} v2")
    cell = page.locator('#compare-metrics tr[data-metric="accuracy"] td').nth(column + 1)
    assert (cell.get_attribute("class") or "").endswith("best")  # v2 is the more accurate
    shot(page, "evaluations-compare")


def test_compare_needs_two_ticked_and_history_has_charts(page: Any, server: tuple[str, EvalSeed]) -> None:
    url, seed = server
    page.goto(url + "/evaluations")
    page.locator(f'#evaluations tr[data-run="{seed.runs[0]}"] input[type=checkbox]').check()
    expect(page.locator("#compare-button")).to_be_disabled()  # one ticked: nothing to compare yet
    expect(page.locator("#compare-count")).to_have_text("(1 ticked)")
    page.locator(f'#evaluations tr[data-run="{seed.runs[2]}"] input[type=checkbox]').check()
    expect(page.locator("#compare-button")).to_be_enabled()
    page.goto(url + f"/models/{MODEL}")
    page.locator("#model-history-link").click()
    expect(page).to_have_url(url + f"/models/{MODEL}/history")
    expect(page.locator('#history-charts figure[data-metric="accuracy"] svg')).to_be_visible()
    expect(page.locator("#history-table tbody tr")).to_have_count(2)
    page.locator("#by-run").click()
    expect(page.locator("#history-table tbody tr")).to_have_count(3)
    shot(page, "model-history")
