"""The monitor pages in headless Chromium: from the list (firing badge) to a monitor's dashboard
(charts, alert states, the latest window's columns) and on to one column's drill-down (statistic
over time, reference vs current histogram). Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.helpers import shot
from tests.ui.monitor_helpers import WATCHED, MonitorSeed, seed_monitors
from treadle.server import create_app
from treadle.testing.server import serve

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, MonitorSeed]]:
    seed = seed_monitors(tmp_path_factory.mktemp("ui-monitors-browser"))
    with serve(create_app(uri=seed.uri, artifacts=seed.artifacts)) as url:
        yield url, seed


def test_list_dashboard_and_column_drill_down(page: Any, server: tuple[str, MonitorSeed]) -> None:
    url, seed = server
    page.goto(url + "/")
    page.get_by_role("link", name="Monitors", exact=True).click()
    expect(page).to_have_url(url + "/monitors")
    watched = page.locator(f'#monitors tr[data-monitor="{WATCHED}"]')
    expect(watched.locator(".alerts")).to_have_text("1 firing")
    expect(watched.locator(".drift-share")).to_contain_text("33%")
    watched.locator("a.monitor-link").click()
    expect(page).to_have_url(url + f"/monitors/{WATCHED}")
    expect(page.locator("#firing")).to_have_text("1 firing")
    expect(page.locator("#drift-share svg")).to_be_visible()
    expect(page.locator("#drift-share circle.point.marked")).to_have_count(seed.drifted_windows)
    expect(page.locator("#performance-accuracy path.series")).to_have_count(2)
    expect(page.locator('#alerts-table tr[data-rule="too-much-drift"]')).to_contain_text("firing")
    expect(page.locator("#columns tbody tr")).to_have_count(4)
    expect(page.locator('#columns tr[data-column="tenure"]')).to_contain_text("drift")
    shot(page, "monitor")
    page.locator('#columns tr[data-column="tenure"] a.column-link').click()
    expect(page).to_have_url(url + f"/monitors/{WATCHED}/columns/tenure")
    expect(page.locator("h1")).to_have_text("tenure")
    expect(page.locator("#statistic svg")).to_be_visible()
    expect(page.locator("#histogram rect.bar.reference")).to_have_count(4)
    expect(page.locator("#histogram rect.bar.current")).to_have_count(4)
    top_ref = page.locator("#histogram rect.bar.reference").nth(3).bounding_box()["height"]
    top_cur = page.locator("#histogram rect.bar.current").nth(3).bounding_box()["height"]
    assert top_cur > top_ref  # the drifted window has more mass in the top bin
    expect(page.locator("#column-table tbody tr")).to_have_count(6)
    shot(page, "monitor-column")
    page.locator(".crumbs a", has_text=WATCHED).click()
    expect(page).to_have_url(url + f"/monitors/{WATCHED}")
