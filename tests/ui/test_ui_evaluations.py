"""Evaluation pages over HTTP, on evaluations made by ``td.evaluate`` with real scikit-learn models:
the list (filter by model), one evaluation (metrics against the baseline, slices with row counts, the
gate's checks, plots inlined and sanitised, explanations, links), compare (best highlighted; 1 or 6
runs get a message), a model's history chart, and friendly 404s."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from tests.ui.evaluation_helpers import DATASET, MODEL, EvalSeed, frame, seed_evaluations
from treadle import Client, Metric
from treadle.evaluation import evaluate
from treadle.server import create_app
from treadle.testing.server import serve
from treadle.ui._svg_safe import safe_svg


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> EvalSeed:
    return seed_evaluations(tmp_path_factory.mktemp("ui-evaluations"))


@pytest.fixture(scope="module")
def http(seeded: EvalSeed) -> Iterator[httpx.Client]:
    with (
        serve(create_app(uri=seeded.uri, artifacts=seeded.artifacts)) as url,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        yield c


def flat(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ", html, flags=re.S))).split())


def row(html: str, attr: str, value: str) -> str:
    found = re.search(rf'<tr[^>]*{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', html, flags=re.S)
    assert found, f"no row {attr}={value}"
    return found.group(0)


def test_list_shows_every_evaluation_with_blessing_and_data(http: httpx.Client, seeded: EvalSeed) -> None:
    r = http.get("/evaluations")
    assert r.status_code == 200
    for run_id in seeded.runs:
        assert f'data-run="{run_id}"' in r.text
        assert f'href="/evaluations/{run_id}"' in r.text
    first, second, third = (flat(row(r.text, "data-run", run)) for run in seeded.runs)
    assert "v1" in first and f"{DATASET} v1" in first and "blessed" in first.lower()
    assert "not blessed" in second.lower()  # the roc_auc >= 0.99 gate fails
    assert "frame" in third  # evaluated on a plain DataFrame
    assert re.search(r'<th class="num">accuracy</th>', r.text)
    assert f'<option value="{MODEL}"' in r.text
    assert 'name="runs"' in r.text and 'action="/evaluations/compare"' in r.text


def test_list_filters_by_model_and_says_what_to_do_when_empty(http: httpx.Client, seeded: EvalSeed) -> None:
    r = http.get("/evaluations", params={"model": MODEL})
    assert all(f'data-run="{run_id}"' in r.text for run_id in seeded.runs)
    assert f'href="/models/{MODEL}/history"' in r.text
    empty = http.get("/evaluations", params={"model": "ghost"})
    assert empty.status_code == 200
    assert "No evaluations of ghost yet" in flat(empty.text) and "td.evaluate(" in empty.text
    assert "data-run=" not in empty.text


def test_evaluation_page(http: httpx.Client, seeded: EvalSeed) -> None:
    run_id = seeded.runs[1]
    r = http.get(f"/evaluations/{run_id}")
    assert r.status_code == 200
    text = flat(r.text)
    assert f"{MODEL} v2" in text and "not blessed" in text.lower()
    accuracy = flat(row(r.text, "data-metric", "accuracy"))
    value, base = (float(x) for x in re.findall(r"\d\.\d+", accuracy)[:2])
    assert value > base  # v2 (both features) beats the champion v1 on the same data
    assert 'class="change better"' in row(r.text, "data-metric", "accuracy")
    assert 'class="change better"' in row(r.text, "data-metric", "log_loss")  # lower is better
    counts = {
        label: int(flat(row(r.text, "data-slice", label)).split()[1])
        for label in ("region=eu", "region=us", "region=apac")
    }
    assert sum(counts.values()) == 300 and counts["region=eu"] > counts["region=apac"]
    checks = re.findall(r'<tr class="check (passed|failed)"><td class="mono">([^<]+)</td>', r.text)
    assert ("failed", "roc_auc lower") in checks and ("passed", "accuracy lower") in checks
    assert "lower bound 0.99" in text
    for plot in ("roc", "pr", "confusion_matrix", "calibration", "metric_by_slice"):
        figure = re.search(rf'data-plot="{plot}".*?</figure>', r.text, flags=re.S)
        assert figure and "<svg" in figure.group(0), plot
    assert re.search(r'id="importance" data-method="permutation"', r.text)
    assert 'data-feature="tenure"' in r.text and 'data-feature="spend"' in r.text
    assert 'id="examples"' in r.text and "prediction" in text
    assert f'href="/models/{MODEL}/versions/2"' in r.text
    assert f'href="/datasets/{DATASET}/1"' in r.text
    assert f'href="/runs/{run_id}"' in r.text
    assert f"models:/{MODEL}/1" in text  # the baseline, pinned to the version @champion named


def test_an_ungated_evaluation_says_how_to_gate(http: httpx.Client, seeded: EvalSeed) -> None:
    r = http.get(f"/evaluations/{seeded.runs[0]}")
    assert "No thresholds were set" in flat(r.text)
    assert 'id="checks"' not in r.text
    assert "Baseline" not in re.search(r'id="metrics".*?</section>', r.text, flags=re.S).group(0)  # type: ignore[union-attr]


def test_plot_svgs_are_sanitised(http: httpx.Client, seeded: EvalSeed) -> None:
    client = Client(uri=seeded.uri, artifacts=seeded.artifacts)
    evil = (
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10" '
        b'onload="alert(1)"><script>window.pwned=1</script><rect width="5" height="5" onclick="alert(2)"/>'
        b'<a xlink:href="javascript:alert(3)"><circle r="2"/></a><foreignObject><p>x</p></foreignObject>'
        b'<use href="#r"/><text>safe text</text></svg>'
    )
    client.log_bytes(seeded.runs[2], evil, "evaluation/plots/evil.svg")
    client.log_bytes(seeded.runs[2], b"<!DOCTYPE svg [<!ENTITY x 'y'>]><svg>&x;</svg>", "evaluation/plots/dtd.svg")
    r = http.get(f"/evaluations/{seeded.runs[2]}")
    figure = re.search(r'data-plot="evil".*?</figure>', r.text, flags=re.S).group(0)  # type: ignore[union-attr]
    assert "<svg" in figure and "safe text" in figure and "<rect" in figure and 'href="#r"' in figure
    for bad in ("<script", "onload", "onclick", "javascript:", "foreignObject", "pwned"):
        assert bad not in figure
    dtd = re.search(r'data-plot="dtd".*?</figure>', r.text, flags=re.S).group(0)  # type: ignore[union-attr]
    assert "<svg" not in dtd and "could not be shown" in dtd
    assert safe_svg(b"<html><body/></html>") is None and safe_svg(b"not xml") is None


def test_compare_highlights_the_best(http: httpx.Client, seeded: EvalSeed) -> None:
    v1, v2, _ = seeded.runs
    r = http.get("/evaluations/compare", params=[("runs", v1), ("runs", v2)])
    assert r.status_code == 200
    for metric in ("accuracy", "roc_auc", "log_loss"):
        cells = re.findall(r'<td class="num mono( best)?">', row(r.text, "data-metric", metric))
        assert cells == ["", " best"], metric  # v2 is better on each, log_loss (lower) included
    slices = re.search(r'id="compare-slices".*?</table>', r.text, flags=re.S)
    assert slices and 'data-slice="region=eu"' in slices.group(0)
    comma = http.get(f"/evaluations/compare?runs={v1},{v2}")
    assert comma.status_code == 200 and f'data-run="{v2}"' in comma.text


@pytest.mark.parametrize("count", [1, 6])
def test_compare_needs_two_to_five(http: httpx.Client, seeded: EvalSeed, count: int) -> None:
    ids = (seeded.runs * 2)[:count] if count == 1 else [*seeded.runs, "a", "b", "c"]
    r = http.get("/evaluations/compare", params=[("runs", i) for i in ids])
    assert r.status_code == 400
    assert f"({count} selected)" in flat(r.text) and "between 2 and 5" in flat(r.text)


def test_compare_and_detail_404s(http: httpx.Client, seeded: EvalSeed, tmp_path: Path) -> None:
    r = http.get("/evaluations/compare", params=[("runs", seeded.runs[0]), ("runs", "nope")])
    assert r.status_code == 404 and "nope" in flat(r.text)
    missing = http.get("/evaluations/nope")
    assert missing.status_code == 404 and "Evaluation not found" in missing.text
    client = Client(uri=seeded.uri, artifacts=seeded.artifacts)
    plain = client.tracking.create_run(client.get_or_create_experiment("plain").id, name="plain").id
    other = http.get(f"/evaluations/{plain}")
    assert other.status_code == 404 and "is not an evaluation" in flat(other.text)


def test_model_history_charts_each_metric(http: httpx.Client, seeded: EvalSeed) -> None:
    r = http.get(f"/models/{MODEL}/history")
    assert r.status_code == 200
    charts = re.findall(r'<figure data-metric="([^"]+)">.*?<svg', r.text, flags=re.S)
    assert {"accuracy", "roc_auc", "log_loss"} <= set(charts)
    table = re.search(r'id="history-table".*?</table>', r.text, flags=re.S).group(0)  # type: ignore[union-attr]
    assert table.count("<tr data-run=") == 2  # by version: the newest evaluation of v1 and v2
    by_run = http.get(f"/models/{MODEL}/history", params={"by": "run"})
    table = re.search(r'id="history-table".*?</table>', by_run.text, flags=re.S).group(0)  # type: ignore[union-attr]
    assert table.count("<tr data-run=") == 3
    model_page = http.get(f"/models/{MODEL}")
    assert f'href="/models/{MODEL}/history"' in model_page.text
    version_page = http.get(f"/models/{MODEL}/versions/2")  # its blessing: the latest evaluation of v2
    assert re.search(rf'id="blessing-link" href="/evaluations/{seeded.runs[2]}">blessed<', version_page.text)


def test_history_of_unknown_and_unevaluated_models(http: httpx.Client, seeded: EvalSeed) -> None:
    assert http.get("/models/ghost/history").status_code == 404
    client = Client(uri=seeded.uri, artifacts=seeded.artifacts)
    client.registry.create_model("untested")
    r = http.get("/models/untested/history")
    assert r.status_code == 200 and "No evaluations of untested yet" in flat(r.text)


def test_nav_links_evaluations_and_monitors(http: httpx.Client) -> None:
    r = http.get("/evaluations")
    assert re.search(r'<a href="/evaluations" aria-current="page">Evaluations</a>', r.text)
    assert '<a href="/monitors" >Monitors</a>' in r.text or 'href="/monitors"' in r.text


@pytest.mark.slow
def test_shap_explanations(http: httpx.Client, seeded: EvalSeed) -> None:
    pytest.importorskip("shap")
    client = Client(uri=seeded.uri, artifacts=seeded.artifacts)
    data = frame(120, 5)
    result = evaluate(f"models:/{MODEL}/2", data, targets="churned", explain="shap", explain_rows=3, client=client)
    r = http.get(f"/evaluations/{result.run_id}")
    assert re.search(r'id="importance" data-method="shap"', r.text) and "linear explainer" in r.text
    table = re.search(r'id="shap-rows".*?</table>', r.text, flags=re.S)
    assert table and table.group(0).count("<tr>") == 3 + 1  # the header and three explained rows
    assert re.search(r'title="tenure = [-\d.]+"', table.group(0))
    bars = dict(re.findall(r'data-feature="(\w+)" data-value="([^"]+)"', r.text))
    assert float(bars["tenure"]) > float(bars["spend"]) > 0


def test_an_evaluation_without_artifacts_still_renders(http: httpx.Client, seeded: EvalSeed) -> None:
    """A run tagged as an evaluation by hand (or whose artifacts were purged): metrics only."""
    client = Client(uri=seeded.uri, artifacts=seeded.artifacts)
    tags = {"treadle.evaluation": "true", "treadle.evaluation.model": "bare"}
    run = client.tracking.create_run(client.get_or_create_experiment("bare").id, name="bare-eval", tags=tags)
    client.log_batch(run.id, metrics=[Metric(key=k, value=v, step=0, timestamp=1) for k, v in
                                      {"accuracy": 0.5, "slice/region:eu/accuracy": 0.75}.items()])  # fmt: skip
    r = http.get(f"/evaluations/{run.id}")
    assert r.status_code == 200
    assert "0.75" in flat(row(r.text, "data-slice", "region=eu"))
    assert "No plots were stored" in r.text and "No explanations were stored" in r.text
    assert "bare" in flat(http.get("/models/bare/history").text)  # not registered, but evaluated
