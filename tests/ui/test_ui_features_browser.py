"""The feature store pages in headless Chromium: list and search, a view (versions, the skew check over
htmx, lineage into the dataset pages), an on-demand view and an entity.
Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.ui.feature_helpers import FeatureSeed, seed_features
from tests.ui.helpers import Seeded, shot
from treadle import Client

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Server = tuple[str, Seeded]


@pytest.fixture(scope="module")
def seeded(ui_server: Server, tmp_path_factory: pytest.TempPathFactory) -> FeatureSeed:
    """This module's own entities and views (suffixed) in the shared server's store."""
    _, data = ui_server
    client = Client(uri=data.uri, artifacts=data.artifacts)
    return seed_features(client, tmp_path_factory.mktemp("features"), suffix=f"_{uuid.uuid4().hex[:6]}")


def test_list_search_and_a_view_with_its_skew_check(page: Any, ui_server: Server, seeded: FeatureSeed) -> None:
    url, _ = ui_server
    page.goto(url + "/")
    page.get_by_role("link", name="Features", exact=True).click()
    expect(page).to_have_url(url + "/features")
    expect(page.locator(f'#views tr[data-view="{seeded.stats}"]')).to_contain_text("how busy a driver is")
    expect(page.locator(f'#views tr[data-view="{seeded.zones}"]')).to_contain_text("never materialized")
    shot(page, "features")
    search = page.locator("#feature-search")
    search.locator('input[name="q"]').fill(seeded.zone)
    search.get_by_role("button", name="Search").click()
    expect(page.locator("#views tr[data-view]")).to_have_count(1)
    expect(page.locator("#views tr[data-view]")).to_have_attribute("data-view", seeded.zones)
    expect(page.locator("#entities tr[data-entity]")).to_have_attribute("data-entity", seeded.zone)
    page.get_by_role("link", name="Clear").click()
    page.locator(f'#views tr[data-view="{seeded.stats}"] a.view-link').click()
    expect(page).to_have_url(f"{url}/features/views/{seeded.stats}")
    expect(page.locator("#schema tr[data-feature]")).to_have_count(2)
    expect(page.locator('#versions tr[data-version="2"]')).to_contain_text("ttl_seconds")
    expect(page.locator("#last-run")).to_contain_text("completed")
    page.locator("#skew-button").click()  # htmx: the result lands in #skew-result, the page stays
    expect(page.locator('#skew-table tr[data-feature="trips"].skewed')).to_have_count(1)
    expect(page.locator("#skew-summary")).to_contain_text("3 entities sampled")
    expect(page).to_have_url(f"{url}/features/views/{seeded.stats}")
    shot(page, "feature-view")
    page.locator('#versions tr[data-version="1"] a', has_text="v1").click()
    expect(page).to_have_url(f"{url}/features/views/{seeded.stats}?version=1")
    expect(page.locator("#old-version")).to_be_visible()
    expect(page.locator("#schema tr[data-feature]")).to_have_count(1)
    page.locator("#upstream a", has_text=f"{seeded.dataset} v1").click()
    expect(page).to_have_url(f"{url}/datasets/{seeded.dataset}/1")
    expect(page.locator("#sample tbody tr")).to_have_count(3)


def test_on_demand_view_and_entity_pages(page: Any, ui_server: Server, seeded: FeatureSeed) -> None:
    url, _ = ui_server
    page.goto(f"{url}/features/views/{seeded.score}")
    expect(page.locator("#transform")).to_be_visible()
    expect(page.locator("#request-sources")).to_contain_text("bonus float64")
    expect(page.locator("#skew-form")).to_have_count(0)
    shot(page, "feature-on-demand")
    page.locator("#upstream a", has_text=f"{seeded.stats} v2").click()
    expect(page).to_have_url(f"{url}/features/views/{seeded.stats}?version=2")
    page.locator("#view-entities a", has_text=seeded.driver).click()
    expect(page).to_have_url(f"{url}/features/entities/{seeded.driver}")
    expect(page.locator("#join-keys")).to_have_text("driver_id")
    expect(page.locator("#entity-views tr[data-view]")).to_have_count(1)
    shot(page, "feature-entity")
    page.locator(f'#entity-views tr[data-view="{seeded.stats}"] a.view-link').click()
    expect(page).to_have_url(f"{url}/features/views/{seeded.stats}")
