"""The study pages in headless Chromium: the list opens a study made by ``td.tune`` whose charts are
drawn (the importance chart arrives after the page, via htmx), and a trial links its nested run.
Set ``TREADLE_UI_SHOTS=<dir>`` to save screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import optuna
import pytest

from tests.ui.helpers import shot
from tests.ui.test_ui_studies import StudySeed, seed_studies
from treadle import Client
from treadle.server import create_app
from treadle.studies import journal_storage
from treadle.testing.server import serve

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, StudySeed]]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = seed_studies(tmp_path_factory.mktemp("ui-studies-browser"))
    with serve(create_app(uri=seed.uri, artifacts=seed.artifacts)) as url:
        yield url, seed


def test_study_charts_and_trial_links(page: Any, server: tuple[str, StudySeed]) -> None:
    url, seed = server
    page.goto(url + "/")
    page.get_by_role("link", name="Studies", exact=True).click()
    expect(page).to_have_url(url + "/studies")
    expect(page.locator('#studies tr[data-study="quad"] .n-trials')).to_have_text("24")
    page.locator('#studies tr[data-study="quad"] a.study-link').click()
    expect(page).to_have_url(url + "/studies/quad")
    complete = [t for t in seed.single.trials if t.state == optuna.trial.TrialState.COMPLETE]
    expect(page.locator("#history circle.point")).to_have_count(len(complete))
    expect(page.locator("#parallel path.pc-line")).to_have_count(len(complete))
    expect(page.locator("#importance rect.bar")).to_have_count(3, timeout=30_000)  # fetched after the page
    expect(page.locator('#importance rect.bar[data-param="x"]')).to_have_count(1)
    widths = {p: page.locator(f'#importance rect.bar[data-param="{p}"]').bounding_box()["width"] for p in ("x", "lr")}
    assert widths["x"] > widths["lr"]  # x decides the objective, lr is noise: drawn so
    expect(page.locator("#best-trial")).to_have_text(str(seed.single.best_trial.number))
    shot(page, "study")
    best = seed.single.best_trial.number
    page.locator(f"#trial-{best} a.trial-run").click()
    expect(page.locator("h1")).to_contain_text(f"trial-{best}")


def test_pareto_front_is_drawn(page: Any, server: tuple[str, StudySeed]) -> None:
    url, seed = server
    page.goto(url + "/studies/tradeoff")
    front = len(seed.multi.best_trials)
    expect(page.locator("#pareto circle.point.pareto")).to_have_count(front)
    expect(page.locator("#pareto-trials a")).to_have_count(front)
    shot(page, "study-pareto")


def test_a_running_study_refreshes_until_its_trials_end(page: Any, server: tuple[str, StudySeed]) -> None:
    url, seed = server
    client = Client(uri=seed.uri, artifacts=seed.artifacts)
    study = optuna.create_study(study_name="live", storage=journal_storage(client.tuning, "live"))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    page.goto(url + "/studies/live")
    expect(page.locator("#trial-counts")).to_contain_text("1 running")
    expect(page.locator("#history circle.point")).to_have_count(2)
    study.tell(trial, 0.5)  # the trial ends while the page is open
    expect(page.locator("#history circle.point")).to_have_count(3, timeout=15_000)
    expect(page.locator("#trial-counts")).to_contain_text("0 running")
    expect(page.locator("#study-panel")).to_have_count(1)  # swapped whole, not nested
    expect(page.locator("#study-panel[hx-trigger]")).to_have_count(0)  # nothing running: polling stopped
    expect(page.locator("#importance rect.bar")).to_have_count(1, timeout=30_000)
