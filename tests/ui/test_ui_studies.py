"""Study pages over HTTP: the list with counts, a single-objective study made by ``td.tune`` (history
with the best-so-far line, parallel coordinates, parameter importance, trials linking their nested
runs) and a multi-objective one (the Pareto front), plus the friendly 404."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest

from treadle import Client
from treadle.server import create_app
from treadle.studies import journal_storage
from treadle.testing.server import serve
from treadle.tuning import tune


@dataclass
class StudySeed:
    uri: str
    artifacts: str
    single: optuna.Study
    multi: optuna.Study


def quadratic(params: dict[str, Any]) -> float:
    if params["x"] > 4.0:
        raise ValueError("x too large for this objective")
    return (params["x"] - 1.0) ** 2 + (0.0 if params["kernel"] == "rbf" else 0.5)


def curve(params: dict[str, Any], trial: optuna.Trial) -> float:
    """A learning curve that reports every step, so the median pruner can stop bad trials early."""
    value = 0.0
    for step in range(8):
        value = params["lr"] * (step + 1)
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def seed_studies(root: Path) -> StudySeed:
    uri, artifacts = f"sqlite:///{root / 's.db'}", str(root / "art")
    client = Client(uri=uri, artifacts=artifacts)
    space = {"x": (-5.0, 5.0), "lr": ("log", 1e-4, 1e-1), "kernel": ["rbf", "linear"]}
    single = tune(quadratic, space=space, n_trials=24, study_name="quad", seed=1, client=client)
    multi = optuna.create_study(
        study_name="tradeoff", storage=journal_storage(client.tuning, "tradeoff"), directions=["minimize", "maximize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )  # fmt: skip
    multi.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("b", 0, 1) * 0.5 + 0.5 * t.params["a"]), 16)
    tune(curve, space={"lr": (0.0, 1.0)}, n_trials=12, pruner="median", study_name="curves", seed=3, client=client)
    return StudySeed(uri, artifacts, single, multi)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> StudySeed:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return seed_studies(tmp_path_factory.mktemp("ui-studies"))


@pytest.fixture(scope="module")
def http(seeded: StudySeed) -> Iterator[httpx.Client]:
    with (
        serve(create_app(uri=seeded.uri, artifacts=seeded.artifacts)) as url,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield c


def flat(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def cells(html: str, row_attr: str) -> dict[str, str]:
    row = re.search(rf"<tr {row_attr}>(.*?)</tr>", html, re.S)
    assert row, row_attr
    return {c: flat(v) for c, v in re.findall(r'<td class="num ([\w-]+)">(.*?)</td>', row.group(1), re.S)}


def test_list_counts_and_best(http: httpx.Client, seeded: StudySeed) -> None:
    r = http.get("/studies")
    assert r.status_code == 200 and re.search(r'href="/studies" aria-current="page"', r.text)
    quad = cells(r.text, 'data-study="quad"')
    failed = sum(t.state == optuna.trial.TrialState.FAIL for t in seeded.single.trials)
    assert failed > 0  # x > 4 fails: the study went on
    assert quad == {
        "n-trials": "24", "n-complete": str(24 - failed), "n-pruned": "0", "n-failed": str(failed),
        "n-running": "0", "best-value": f"{seeded.single.best_value:.6g}",
    }  # fmt: skip
    assert cells(r.text, 'data-study="tradeoff"')["best-value"] == "Pareto front"
    assert 'href="/studies/quad"' in r.text


def test_empty_list_says_how_to_start(tmp_path: Path) -> None:
    with serve(create_app(uri=f"sqlite:///{tmp_path / 'e.db'}", artifacts=str(tmp_path / "a"))) as url:
        text = httpx.get(url + "/studies").text
    assert 'id="studies"' not in text and "td.tune(" in text


def test_single_objective_study_page(http: httpx.Client, seeded: StudySeed) -> None:
    study = seeded.single
    r = http.get("/studies/quad")
    assert r.status_code == 200
    text = r.text
    assert flat(re.search(r'id="best-trial">(.*?)<', text).group(1)) == str(study.best_trial.number)  # type: ignore[union-attr]
    # history: one point per completed trial, at its value, plus the best-so-far line
    history = re.search(r'<svg class="plot history".*?</svg>', text, re.S).group(0)  # type: ignore[union-attr]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    points = dict(re.findall(r'data-trial="(\d+)" data-value="([^"]+)"', history))
    assert {int(k): float(v) for k, v in points.items()} == {t.number: t.value for t in complete}
    assert 'class="best-line"' in history
    # parallel coordinates: an axis per parameter and the objective, a line per completed trial
    parallel = re.search(r'<svg class="plot parallel".*?</svg>', text, re.S).group(0)  # type: ignore[union-attr]
    assert set(re.findall(r'data-axis="([\w ]+)"', parallel)) == {"x", "lr", "kernel", "objective"}
    assert len(re.findall(r'<path class="pc-line"', parallel)) == len(complete)
    # importance (fetched after the page, by htmx): x decides the value; lr is noise
    assert 'hx-get="/studies/quad/importance" hx-trigger="load"' in text
    bars = dict(re.findall(r'data-param="(\w+)" data-importance="([^"]+)"', http.get("/studies/quad/importance").text))
    assert set(bars) == {"x", "lr", "kernel"} and float(bars["x"]) > float(bars["lr"])
    assert abs(sum(float(v) for v in bars.values()) - 1.0) < 1e-6
    assert 'id="pareto"' not in text  # single objective: no Pareto chart


def test_trials_link_their_nested_runs(http: httpx.Client, seeded: StudySeed) -> None:
    text = http.get("/studies/quad").text
    rows = re.findall(r'<tr id="trial-(\d+)" data-trial="\d+" data-state="(\w+)">(.*?)</tr>', text, re.S)
    assert [int(n) for n, _, _ in rows] == list(range(23, -1, -1))  # newest first
    client = Client(uri=seeded.uri, artifacts=seeded.artifacts)
    failed = next(body for _, state, body in rows if state == "FAIL")
    link = re.search(r'<a class="trial-run" href="/runs/(\w+)">', failed)
    assert link, "a failed trial still links its run"
    run = client.get_run(link.group(1))
    assert run.tags["treadle.trial.state"] == "FAIL" and "x too large" in run.tags["treadle.trial.error"]
    assert all('class="trial-run"' in body for _, _, body in rows)
    assert http.get(f"/runs/{link.group(1)}").status_code == 200


def test_multi_objective_study_shows_the_pareto_front(http: httpx.Client, seeded: StudySeed) -> None:
    text = http.get("/studies/tradeoff").text
    front = sorted(t.number for t in seeded.multi.best_trials)
    pareto = re.search(r'<svg class="plot pareto".*?</svg>', text, re.S).group(0)  # type: ignore[union-attr]
    marked = sorted(int(n) for n in re.findall(r'<circle class="point pareto" data-trial="(\d+)"', pareto))
    assert marked == front and len(re.findall(r"<circle ", pareto)) == 16
    listed = re.search(r'id="pareto-trials">(.*?)</p>', text, re.S).group(1)  # type: ignore[union-attr]
    assert [int(n) for n in re.findall(r">(\d+)</a>", listed)] == front
    assert "objective 0" in flat(text) and "objective 1" in flat(text)


def test_intermediate_values_show_the_pruned_trials(http: httpx.Client) -> None:
    client = Client(uri=str(http.base_url).rstrip("/"))  # through the server: a remote tuning service
    study = optuna.load_study(study_name="curves", storage=journal_storage(client.tuning, "curves"))
    pruned = sorted(t.number for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    assert pruned, "the median pruner stopped some trials"
    text = http.get("/studies/curves").text
    chart = re.search(r'<svg class="plot intermediate".*?</svg>', text, re.S).group(0)  # type: ignore[union-attr]
    drawn = sorted(int(n) for n in re.findall(r'class="pc-line curve pruned" data-trial="(\d+)"', chart))
    assert drawn == pruned and len(re.findall(r'class="pc-line curve', chart)) == len(study.trials)
    assert 'id="intermediate"' not in http.get("/studies/quad").text  # nothing reported there


def test_importance_looks_at_the_latest_trials(seeded: StudySeed, monkeypatch: pytest.MonkeyPatch) -> None:
    from treadle.ui import _studies

    monkeypatch.setattr(_studies, "MAX_IMPORTANCE_TRIALS", 5)
    found, note = _studies.importances(seeded.single, seeded.single.trials)
    assert note is None and found is not None and set(found) == {"x", "lr", "kernel"}


def test_unknown_study_is_a_friendly_404(http: httpx.Client) -> None:
    r = http.get("/studies/nope")
    assert r.status_code == 404 and "no study named &#39;nope&#39;" in r.text
    assert http.get("/studies/nope/importance").status_code == 404


def test_importance_needs_completed_trials(http: httpx.Client, seeded: StudySeed) -> None:
    client = Client(uri=seeded.uri, artifacts=seeded.artifacts)
    lone = optuna.create_study(study_name="lone", storage=journal_storage(client.tuning, "lone"))
    lone.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    text = http.get("/studies/lone/importance").text
    assert "needs at least two completed trials" in text and "<svg" not in text
    page = http.get("/studies/lone").text
    assert 'id="best-value">' in page and page.count("<circle ") == 1
    assert 'hx-trigger="every' not in page  # nothing running: the page stays still
    lone.ask()  # a trial starts and is not finished yet: the page follows the study
    page = http.get("/studies/lone").text
    assert 'hx-get="/studies/lone" hx-trigger="every 5s"' in page and 'hx-select="#study-panel"' in page
    assert "1 running" in flat(page)
