"""Monitor pages over HTTP, on state written through the monitors service: the list (reference,
latest drift share, firing badge, last error), a dashboard (time series, alert states, the latest
window's per-column table), a column's drill-down (statistic over time, histogram), empty states
and friendly 404s."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import httpx
import pytest

from tests.ui.monitor_helpers import BROKEN, IDLE, WATCHED, MonitorSeed, seed_monitors
from treadle.server import create_app
from treadle.testing.server import serve


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> MonitorSeed:
    return seed_monitors(tmp_path_factory.mktemp("ui-monitors"))


@pytest.fixture(scope="module")
def http(seeded: MonitorSeed) -> Iterator[httpx.Client]:
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


def figure(html: str, figure_id: str) -> str:
    found = re.search(rf'<figure id="{figure_id}">.*?</figure>', html, flags=re.S)
    assert found, f"no figure {figure_id}"
    return found.group(0)


def test_list(http: httpx.Client) -> None:
    r = http.get("/monitors")
    assert r.status_code == 200
    watched = row(r.text, "data-monitor", WATCHED)
    assert "churn-train v1" in flat(watched) and "33%" in flat(watched)
    assert "1 firing" in flat(watched) and 'title="too-much-drift"' in watched
    assert 'href="/deployments/churn"' in watched and f'href="/monitors/{WATCHED}"' in watched
    idle = flat(row(r.text, "data-monitor", IDLE))
    assert "not profiled yet" in idle and "none yet" in idle and "never" in idle
    assert "has no column 'tenure'" in flat(row(r.text, "data-monitor", BROKEN))


def test_dashboard(http: httpx.Client, seeded: MonitorSeed) -> None:
    r = http.get(f"/monitors/{WATCHED}")
    assert r.status_code == 200
    drift = figure(r.text, "drift-share")
    assert drift.count('<circle class="point') == 6
    assert drift.count('class="point marked"') == seeded.drifted_windows  # dataset drift in red
    assert 'class="threshold"' in drift
    assert "<svg" in figure(r.text, "prediction-drift")
    perf = figure(r.text, "performance-accuracy")
    assert 'data-series="accuracy"' in perf and 'data-series="estimated accuracy"' in perf
    assert "<svg" in figure(r.text, "missing-share")
    assert 'data-state="firing"' in row(r.text, "data-rule", "too-much-drift")
    assert 'data-state="ok"' in row(r.text, "data-rule", "accuracy-drop")
    tenure = row(r.text, "data-column", "tenure")
    assert "ks" in flat(tenure) and "1e-09" in flat(tenure) and "drift" in flat(tenure)
    assert f'href="/monitors/{WATCHED}/columns/tenure"' in tenure
    assert 'data-drifted="false"' in row(r.text, "data-column", "plan")
    assert 'data-drifted="true"' in row(r.text, "data-column", "tenure")
    assert "constant in the reference" in flat(row(r.text, "data-column", "region_id"))
    assert "prediction" in flat(row(r.text, "data-column", "prediction"))
    assert "Unseen categories in plan : enterprise" in flat(r.text)
    assert 'href="/datasets/churn-train/1"' in r.text
    assert 'hx-trigger="every 30s"' in r.text and 'hx-select="#monitor-panel"' in r.text  # live while enabled


def test_column_drill_down(http: httpx.Client, seeded: MonitorSeed) -> None:
    r = http.get(f"/monitors/{WATCHED}/columns/tenure")
    assert r.status_code == 200
    stat = figure(r.text, "statistic")
    assert stat.count('<circle class="point') == 6 and stat.count("point marked") == seeded.drifted_windows
    assert "<svg" in figure(r.text, "p-value")
    hist = figure(r.text, "histogram")
    ref = [float(x) for x in re.findall(r'class="bar reference"[^>]*data-share="([^"]+)"', hist)]
    cur = [float(x) for x in re.findall(r'class="bar current"[^>]*data-share="([^"]+)"', hist)]
    assert len(ref) == len(cur) == 4
    assert abs(sum(ref) - 1) < 1e-9 and cur[3] > ref[3]  # the shifted window: more mass in the top bin
    plan = http.get(f"/monitors/{WATCHED}/columns/plan")
    assert re.findall(r'class="bar reference" data-bin="([^"]+)"', plan.text) == ["basic", "pro", "team"]
    assert 'id="p-value"' not in plan.text  # a distance: no p-values
    constant = http.get(f"/monitors/{WATCHED}/columns/region_id")
    assert constant.status_code == 200 and "No distribution was stored" in flat(constant.text)


def test_empty_states_and_errors(http: httpx.Client) -> None:
    idle = http.get(f"/monitors/{IDLE}")
    assert idle.status_code == 200 and f"treadle monitor run {IDLE}" in flat(idle.text)
    assert 'id="charts"' not in idle.text
    broken = http.get(f"/monitors/{BROKEN}")
    assert 'id="last-error"' in broken.text and "has no column 'tenure'" in flat(broken.text)


def test_unknown_names_get_the_404_page(http: httpx.Client) -> None:
    r = http.get("/monitors/nope")
    assert r.status_code == 404 and "Monitor not found" in r.text and "treadle monitor create nope" in flat(r.text)
    c = http.get(f"/monitors/{WATCHED}/columns/nope")
    assert c.status_code == 404 and "watches no column 'nope'" in flat(c.text)
    assert http.get("/monitors/nope/columns/tenure").status_code == 404
