"""The UI in headless Chromium: list, filter, sort, columns, charts, artifact previews, compare.

Set ``TREADLE_UI_SHOTS=<dir>`` to save a screenshot of each page visited.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ui.helpers import STEPS, Seeded, shot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Server = tuple[str, Seeded]


def drag(page: Any, chart: Any, start: float, end: float) -> None:
    """Drag-select across a uPlot chart, from and to fractions of its plot width."""
    over = chart.locator(".u-over").bounding_box()
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * start, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * end, y, steps=8)
    page.mouse.up()


def rows(page: Any) -> Any:
    return page.locator("#runs-table tbody tr[data-run]")


def test_experiments_list_opens_an_experiment(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    page.goto(url + "/")
    expect(page.locator("#experiments tbody tr")).to_have_count(2)
    shot(page, "experiments")
    page.get_by_role("link", name="vision", exact=True).click()
    expect(page).to_have_url(f"{url}/experiments/{data.experiment_id}")
    expect(rows(page)).to_have_count(3)
    expect(page.locator("h1")).to_have_text("vision")


def test_filter_narrows_rows_and_reports_bad_filters(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    page.goto(f"{url}/experiments/{data.experiment_id}")
    page.fill("#filter", "params.lr = '0.01'")
    page.press("#filter", "Enter")
    expect(rows(page)).to_have_count(1)
    expect(page.locator("#runs-table .run-link")).to_have_text(["beta"])
    expect(page).to_have_url(re.compile(r"\?filter=params\.lr\+%3D\+%270\.01%27$"))  # linkable

    page.fill("#filter", "metrics.acc > 0.75")
    page.press("#filter", "Enter")
    expect(page.locator("#runs-table .run-link")).to_have_text(["gamma", "beta"], ignore_case=False)

    page.fill("#filter", "metrics.acc >")
    page.press("#filter", "Enter")
    expect(page.locator("#filter-error")).to_contain_text("bad filter")
    expect(rows(page)).to_have_count(0)
    shot(page, "experiment-bad-filter")

    page.goto(f"{url}/experiments/{data.experiment_id}?filter=params.batch+%3D+%2764%27")  # a shared link
    expect(page.locator("#runs-table .run-link")).to_have_text(["gamma"])
    expect(page.locator("#filter")).to_have_value("params.batch = '64'")


def test_sort_by_metric_column(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    page.goto(f"{url}/experiments/{data.experiment_id}")
    page.click('a[data-sort="metrics.acc"]')
    expect(page).to_have_url(re.compile(r"order_by=metrics\.acc\+DESC"))
    expect(page.locator("#runs-table .run-link")).to_have_text(["beta", "gamma", "alpha"])
    expect(page.locator("th.sorted")).to_contain_text("acc")
    page.click('a[data-sort="metrics.acc"]')  # again: ascending
    expect(page).to_have_url(re.compile(r"order_by=metrics\.acc\+ASC"))
    expect(page.locator("#runs-table .run-link")).to_have_text(["alpha", "gamma", "beta"])
    shot(page, "experiment-sorted")
    page.go_back()  # history restores the previous ordering
    expect(page).to_have_url(re.compile(r"order_by=metrics\.acc\+DESC"))
    expect(page.locator("#runs-table .run-link")).to_have_text(["beta", "gamma", "alpha"])


def test_column_picker(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    page.goto(f"{url}/experiments/{data.experiment_id}")
    expect(page.locator('a[data-sort="params.lr"]')).to_have_count(1)
    page.click(".picker summary")
    page.uncheck('.picker input[value="params.lr"]')
    page.check('.picker input[value="tags.team"]')
    page.click(".picker button[type=submit]")
    expect(page.locator('a[data-sort="params.lr"]')).to_have_count(0)
    expect(page.locator('a[data-sort="tags.team"]')).to_have_count(1)
    expect(page).to_have_url(re.compile(r"cols="))
    expect(rows(page).first.locator("td").last).to_have_text("cv")


def test_run_page_chart_zoom_smoothing_and_axis(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    page.goto(f"{url}/runs/{data.runs['alpha']}")
    chart = page.locator('.chart[data-key="acc"]')
    expect(chart).to_have_attribute("data-points", str(STEPS))  # fetched from the JSON endpoint
    expect(chart.locator("canvas")).to_have_count(1)  # drawn by uPlot
    expect(page.locator('.chart[data-key="loss"] canvas')).to_have_count(1)
    expect(page.locator("#system-tags")).to_be_hidden()  # treadle.* tags are collapsed
    page.click(".system-tags summary")
    expect(page.locator("#system-tags")).to_contain_text("treadle.user")
    shot(page, "run")

    page.locator("#smoothing").fill("0.9")
    expect(page.locator("#smoothing-value")).to_have_text("0.90")
    expect(chart.locator(".u-legend")).to_contain_text("smoothed")

    drag(page, chart, 0.2, 0.5)
    expect(chart).to_have_attribute("data-range", re.compile(r"^\d+-\d+$"))  # the range was re-fetched
    lo, hi = (int(v) for v in chart.get_attribute("data-range").split("-"))
    assert 0 < lo < hi < STEPS - 1
    expect(chart).to_have_attribute("data-points", str(hi - lo + 1))
    chart.locator(".u-over").dblclick()
    expect(chart).to_have_attribute("data-points", str(STEPS))
    assert chart.get_attribute("data-range") is None

    page.check('input[name="xaxis"][value="time"]')
    expect(chart.locator(".u-legend")).to_contain_text("time")
    expect(chart.locator("canvas")).to_have_count(1)
    drag(page, chart, 0.5, 0.9)  # a zoom on the time axis fetches the steps logged in that span
    expect(chart).to_have_attribute("data-range", re.compile(r"^\d+-\d+$"))
    lo, hi = (int(v) for v in chart.get_attribute("data-range").split("-"))
    assert STEPS // 3 < lo < hi <= STEPS - 1


def test_artifact_previews(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    alpha = data.runs["alpha"]
    page.goto(f"{url}/runs/{alpha}")
    preview = page.locator("#artifact-preview")
    page.click('.tree a.file[data-path="notes.txt"]')
    expect(preview.locator("pre")).to_contain_text("hello from alpha")
    expect(preview.locator("pre")).to_contain_text("<script>window.pwned = 1</script>")  # text, not markup
    assert page.evaluate("window.pwned") is None
    expect(page).to_have_url(f"{url}/runs/{alpha}?artifact=notes.txt")
    expect(preview.get_by_role("link", name="Download")).to_have_attribute(
        "href", f"/api/v1/runs/{alpha}/artifacts/notes.txt?download=1"
    )

    page.click('.tree a.file[data-path="eval/table.json"]')
    expect(preview.locator("table th")).to_have_text(["label", "score"])
    expect(preview.locator("table tbody tr")).to_have_count(2)
    shot(page, "run-artifact-table")

    page.click('.tree a.file[data-path="plots/red.png"]')
    image = preview.locator("img.preview-img")
    expect(image).to_have_count(1)
    page.wait_for_function("() => document.querySelector('img.preview-img')?.naturalWidth === 2")


def test_compare_two_runs(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    page.goto(f"{url}/experiments/{data.experiment_id}")
    button = page.locator("#compare-btn")
    expect(button).to_be_disabled()
    page.check(f'input[form="compare-form"][value="{data.runs["alpha"]}"]')
    expect(button).to_be_disabled()
    page.check(f'input[form="compare-form"][value="{data.runs["beta"]}"]')
    expect(button).to_be_enabled()
    expect(page.locator("#compare-hint")).to_have_text("2 selected")
    button.click()

    expect(page).to_have_url(re.compile(r"/compare\?runs="))
    expect(page.locator("h1")).to_have_text("Compare 2 runs")
    expect(page.locator("#param-diff tr.differs th")).to_have_text(["lr"])
    # Runs come in table order (newest first): beta, then alpha.
    expect(page.locator("#param-diff thead th")).to_have_text(["Key", "beta", "alpha"])
    expect(page.locator("#param-diff tr.differs td")).to_have_text(["0.01", "0.1"])
    chart = page.locator('.chart[data-key="acc"]')
    expect(chart).to_have_attribute("data-points", str(2 * STEPS))
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart.locator(".u-legend")).to_contain_text("alpha")
    expect(chart.locator(".u-legend")).to_contain_text("beta")
    shot(page, "compare")

    optimizer = page.locator("#param-diff tr", has_text="optimizer")
    expect(optimizer).to_be_visible()
    page.check("#only-diff")
    expect(optimizer).to_be_hidden()
