"""The model registry pages in headless Chromium: list, model page, alias form and history, approval,
version page. Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.ui.helpers import Seeded, log_model_files, shot
from treadle import Client

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Server = tuple[str, Seeded]


def fresh_model(data: Seeded, versions: int = 2) -> str:
    """A model of its own, so tests that change the registry do not depend on each other."""
    client = Client(uri=data.uri, artifacts=data.artifacts)
    name = f"m-{uuid.uuid4().hex[:8]}"
    uri = log_model_files(client, data.model_run)
    for _ in range(versions):
        client.registry.create_version(name, uri)
    return name


def history(page: Any) -> Any:
    return page.locator("#alias-history li")


def test_model_list_opens_a_model(page: Any, ui_server: Server) -> None:
    url, _ = ui_server
    page.goto(url + "/")
    page.get_by_role("link", name="Models", exact=True).click()
    expect(page).to_have_url(url + "/models")
    churn = page.locator('#models tr[data-model="churn"]')
    expect(churn).to_contain_text("v3")
    expect(churn.locator(".chip.alias")).to_have_text(["challenger → v3", "champion → v2"])
    shot(page, "models")
    churn.locator("a.model-link").click()
    expect(page).to_have_url(url + "/models/churn")
    expect(page.locator("h1")).to_have_text("churn")
    expect(page.locator("#versions tr[data-version]")).to_have_count(3)
    expect(history(page)).to_have_count(3)
    expect(history(page).first).to_contain_text("bo set challenger → v3")
    shot(page, "model")


def test_set_alias_through_the_form_updates_the_history(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    name = fresh_model(data)
    page.goto(f"{url}/models/{name}")
    expect(page.locator("#alias-history")).to_have_count(0)
    form = page.locator("#alias-form")
    form.locator('input[name="alias"]').fill("champion")
    form.locator('select[name="version"]').select_option("1")
    form.locator('input[name="reason"]').fill("first good model")
    form.get_by_role("button", name="Set alias").click()
    expect(page.locator("#flash")).to_have_text("champion now points at v1.")
    expect(history(page)).to_have_count(1)
    expect(history(page).first).to_contain_text("ui set champion → v1")
    expect(history(page).first).to_contain_text("“first good model”")

    form = page.locator("#alias-form")  # the panel was swapped: find the form again
    form.locator('input[name="alias"]').fill("champion")
    form.locator('select[name="version"]').select_option("2")
    form.locator('input[name="reason"]').fill("v2 wins the A/B")
    form.get_by_role("button", name="Set alias").click()
    expect(history(page)).to_have_count(2)
    expect(history(page).first).to_contain_text("ui moved champion v1 → v2")
    expect(history(page).first.locator("time")).not_to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:"))  # localised
    expect(page.locator('#alias-table tr[data-alias="champion"]')).to_contain_text("v2")
    expect(page.locator('#versions tr[data-version="2"] .chip.alias')).to_have_text(["champion"])
    expect(page).to_have_url(f"{url}/models/{name}")  # htmx swapped the panel; no navigation
    shot(page, "model-alias-moved")

    page.locator('#alias-form input[name="alias"]').fill("Not Valid")
    page.locator("#alias-form").get_by_role("button", name="Set alias").click()
    expect(page.locator("#form-error")).to_contain_text("invalid alias 'Not Valid'")
    expect(history(page)).to_have_count(2)


def test_approve_a_version(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    name = fresh_model(data)
    page.goto(f"{url}/models/{name}")
    row = page.locator('#versions tr[data-version="1"]')
    expect(row.locator(".approval-pending")).to_have_count(1)
    row.locator('input[name="reason"]').fill("passed review")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator("#flash")).to_have_text("v1 approved.")
    row = page.locator('#versions tr[data-version="1"]')
    expect(row.locator(".approval-approved")).to_have_count(1)
    expect(row).to_contain_text("by ui")
    expect(row).to_contain_text("passed review")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)
    page.locator('#versions tr[data-version="2"]').get_by_role("button", name="Reject").click()
    expect(page.locator('#versions tr[data-version="2"] .approval-rejected')).to_have_count(1)
    shot(page, "model-approved")


def test_version_page_links_its_run(page: Any, ui_server: Server) -> None:
    url, data = ui_server
    page.goto(url + "/models/churn")
    page.locator('#versions tr[data-version="2"] a', has_text="v2").first.click()
    expect(page).to_have_url(url + "/models/churn/versions/2")
    expect(page.locator("h1")).to_contain_text("churn v2")
    expect(page.locator("#signature tbody tr")).to_have_count(3)
    expect(page.locator("#signature tbody tr").first).to_contain_text("tenure")
    expect(page.locator("#requirements li")).to_have_text(["scikit-learn==1.5.0", "pandas==2.2.2"])
    expect(page.locator("#files a.file-link")).to_have_count(3)
    shot(page, "model-version")
    page.locator("#run-link").click()
    expect(page).to_have_url(f"{url}/runs/{data.model_run}")
    expect(page.locator("h1")).to_have_text("beta")
