"""The dataset pages in headless Chromium: list and search, a version with image thumbnails, the diff.
Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import treadle as td
from tests.ui.helpers import Seeded, shot, tiny_png
from treadle import Client

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Server = tuple[str, Seeded]


@pytest.fixture(scope="module")
def names(ui_server: Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A table (two versions) and an image collection of this module's own in the shared server's store."""
    _, data = ui_server
    client = Client(uri=data.uri, artifacts=data.artifacts)
    suffix = uuid.uuid4().hex[:6]
    table, images = f"trips-{suffix}", f"photos-{suffix}"
    v1 = pd.DataFrame({"id": [1, 2, 3], "km": [2.5, 7.0, 1.0], "zone": ["north", "south", "north"]})
    td.datasets.create(table, v1, description="taxi trips", tags={"team": "mobility"}, client=client)
    td.datasets.create(table, v1.assign(km=[2.5, 8.0, 1.0]), client=client)
    folder: Path = tmp_path_factory.mktemp("photos")
    (folder / "red.png").write_bytes(tiny_png())
    (folder / "README.txt").write_text("one red image\n")
    td.datasets.create(images, folder, tags={"team": "vision"}, client=client)
    return table, images


def test_list_search_and_open_a_table_version(page: Any, ui_server: Server, names: tuple[str, str]) -> None:
    url, _ = ui_server
    table, images = names
    page.goto(url + "/")
    page.get_by_role("link", name="Datasets", exact=True).click()
    expect(page).to_have_url(url + "/datasets")
    expect(page.locator(f'#datasets tr[data-dataset="{table}"]')).to_contain_text("taxi trips")
    search = page.locator("#dataset-search")
    search.locator('input[name="tag"]').fill("team=vision")
    search.get_by_role("button", name="Search").click()
    expect(page.locator("#datasets tr[data-dataset]")).to_have_count(1)
    expect(page.locator("#datasets tr[data-dataset]")).to_have_attribute("data-dataset", images)
    shot(page, "datasets-search")
    search = page.locator("#dataset-search")
    search.locator('input[name="tag"]').fill("")
    search.locator('input[name="column"]').fill("km")
    search.get_by_role("button", name="Search").click()
    expect(page.locator(f'#datasets tr[data-dataset="{table}"]')).to_have_count(1)
    expect(page.locator(f'#datasets tr[data-dataset="{images}"]')).to_have_count(0)
    page.locator(f'#datasets tr[data-dataset="{table}"] a.dataset-link').click()
    expect(page).to_have_url(f"{url}/datasets/{table}")
    expect(page.locator("#versions tr[data-version]")).to_have_count(2)
    page.locator('#versions tr[data-version="1"] a', has_text="v1").click()
    expect(page).to_have_url(f"{url}/datasets/{table}/1")
    expect(page.locator('tr[data-column="km"] svg.hist rect')).to_have_count(20)
    expect(page.locator("#sample tbody tr")).to_have_count(3)
    shot(page, "dataset-version")


def test_image_collection_shows_thumbnails(page: Any, ui_server: Server, names: tuple[str, str]) -> None:
    url, _ = ui_server
    _, images = names
    page.goto(f"{url}/datasets/{images}/1")
    thumb = page.locator('#files tr[data-path="red.png"] img.thumb')
    expect(thumb).to_have_count(1)
    expect(page.locator('#files tr[data-path="README.txt"] img')).to_have_count(0)
    page.wait_for_function("img => img.complete && img.naturalWidth === 2", arg=thumb.element_handle())
    shot(page, "dataset-images")


def test_compare_two_versions(page: Any, ui_server: Server, names: tuple[str, str]) -> None:
    url, _ = ui_server
    table, _ = names
    page.goto(f"{url}/datasets/{table}")
    form = page.locator("#compare form")
    form.locator('select[name="a"]').select_option("1")
    form.locator('select[name="b"]').select_option("2")
    form.locator('input[name="key"]').fill("id")
    form.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(f"{url}/datasets/{table}/diff?a=1&b=2&key=id")
    expect(page.locator("#rows-changed")).to_have_text("~1")
    expect(page.locator("#rows-added")).to_have_text("+0")
    expect(page.locator("#sample-changed tbody tr")).to_have_count(1)
    expect(page.locator("#sample-changed tbody tr")).to_contain_text("8")
    expect(page.locator('#stats-shift tr[data-column="km"][data-stat="max"]')).to_contain_text("+1")
    shot(page, "dataset-diff")
    page.locator('.diff-form input[name="key"]').fill("")  # the 400 page for a bad key: see test_ui_datasets
    page.locator(".diff-form").get_by_role("button", name="Compare").click()
    expect(page.locator(".page-head .chip")).to_have_text("rows as a multiset")
    expect(page.locator("#rows-added")).to_have_text("+1")
