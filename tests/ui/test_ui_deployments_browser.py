"""The deployment pages in headless Chromium: the list, one deployment whose live statistics panel
refreshes by itself while traffic and rewards arrive, and promote / rollback behind a confirmation.
Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ui.deployment_helpers import DeploySeed, client_of, fresh_canary, give_rewards, in_store, serve_traffic
from tests.ui.helpers import Seeded, shot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

Server = tuple[str, Seeded]
LIVE_TIMEOUT_MS = 12_000  # the panel polls every 3 s; allow a few polls on a busy machine


@pytest.fixture(scope="module")
def seeded(ui_server: Server, tmp_path_factory: pytest.TempPathFactory) -> DeploySeed:
    """Real sklearn models saved once; each test registers them under a deployment of its own."""
    _, data = ui_server
    return in_store(data.uri, data.artifacts, tmp_path_factory.mktemp("deployments"))


def variant_row(page: Any, variant: str) -> Any:
    return page.locator(f'#variant-stats tr[data-variant="{variant}"]')


def test_list_opens_a_deployment_whose_stats_refresh(page: Any, ui_server: Server, seeded: DeploySeed) -> None:
    url, _ = ui_server
    name = fresh_canary(seeded, control=(900, 2, 12.0, 400), canary=(100, 1, 30.0, 40))
    page.goto(url + "/")
    page.get_by_role("link", name="Deployments", exact=True).click()
    expect(page).to_have_url(url + "/deployments")
    listed = page.locator(f'#deployments tr[data-deployment="{name}"]')
    expect(listed.locator(".chip.variant")).to_have_text(["control 90.0%", "canary 10.0%"])
    expect(listed.locator(".requests")).to_have_text("1000")
    shot(page, "deployments")
    listed.locator("a.deployment-link").click()
    expect(page).to_have_url(f"{url}/deployments/{name}")
    expect(page.locator("h1")).to_have_text(name)
    expect(variant_row(page, "canary").locator(".requests")).to_have_text("100")
    expect(page.locator('#traffic-split [data-variant="canary"] .observed-share')).to_have_text("observed 10.0%")
    expect(page.locator("#srm")).to_contain_text("split matches the weights")
    expect(page.locator("#shadow .shadow-mirrored")).to_have_text("440")
    expect(page.locator("#revision-history li")).to_have_count(1)
    expect(page.locator("#alias-history li").first).to_contain_text("baseline model")
    bar = page.locator('#traffic-split [data-variant="canary"] .bar.observed > span').bounding_box()
    track = page.locator('#traffic-split [data-variant="canary"] .bar.observed').bounding_box()
    assert bar is not None and track is not None and 0.07 < bar["width"] / track["width"] < 0.13  # drawn at 10%
    shot(page, "deployment")

    # Traffic and rewards arrive; the open page follows without a reload.
    client = client_of(seeded)
    serve_traffic(client, name, 1, {"canary": (200, 0, 30.0, 0)})
    give_rewards(client, name, 1, "canary", 10, 7)
    expect(variant_row(page, "canary").locator(".requests")).to_have_text("300", timeout=LIVE_TIMEOUT_MS)
    expect(variant_row(page, "canary").locator(".rewards")).to_have_text("10")
    expect(variant_row(page, "canary").locator(".reward-mean")).to_contain_text("0.7 [")
    expect(page.locator("#total-requests")).to_have_text("1200")
    expect(page.locator("#live h2")).to_have_count(1)  # the fragment replaced the panel's content, not nested
    expect(page).to_have_url(f"{url}/deployments/{name}")

    # The controller rolls the canary back while the page is open: the panel says so.
    client.rollout.rollback(name, actor="treadle-rollout", reason="guardrail breach")
    expect(page.locator("#new-revision")).to_contain_text("revision 2 (rolled back", timeout=LIVE_TIMEOUT_MS)
    expect(variant_row(page, "canary").locator(".weight")).to_have_text("0")
    page.locator("#new-revision a", has_text="Reload").click()
    expect(page.locator("#revision")).to_have_text("revision 2")
    expect(page.locator("#new-revision")).to_have_count(0)


def test_promote_asks_first_then_moves_the_alias(page: Any, ui_server: Server, seeded: DeploySeed) -> None:
    url, _ = ui_server
    name = fresh_canary(seeded, control=(90, 0, 10.0, 0), canary=(10, 0, 10.0, 0))
    asked: list[str] = []
    answer = {"accept": False}

    def on_dialog(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept() if answer["accept"] else dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"{url}/deployments/{name}")
    rollback = page.locator("#rollback-form")
    rollback.locator('input[name="reason"]').fill("not now")
    rollback.get_by_role("button", name="Roll back").click()
    for _ in range(50):  # the dialog handler runs while Playwright waits
        if asked:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(300)  # had the post gone out, its answer would land by now
    assert asked and asked[0].startswith("Roll back?")
    assert client_of(seeded).rollout.get_deployment(name).revision == 1  # dismissed: nothing sent
    expect(page.locator("#flash")).to_have_count(0)

    answer["accept"] = True
    form = page.locator("#promote-form")
    form.locator('select[name="variant"]').select_option("canary")
    form.locator('input[name="reason"]').fill("v2 converts better")
    form.get_by_role("button", name="Promote").click()
    expect(page.locator("#flash")).to_contain_text("Promoted: revision 2")
    assert asked[-1].startswith("Promote this variant?")
    expect(page.locator('#revision-history li[data-revision="2"]')).to_contain_text("v2 converts better")
    expect(page.locator('#revision-history li[data-revision="2"] .status')).to_have_text("promoted")
    expect(page.locator("#alias-history li").first).to_contain_text(re.compile(r"ui\s+moved champion v1 → v2"))
    expect(page.locator("#promote-form")).to_have_count(0)
    expect(page).to_have_url(f"{url}/deployments/{name}")
    assert client_of(seeded).get_model_version_by_alias(name, "champion").version == 2
    shot(page, "deployment-promoted")
