"""The monitor pages over what the real runner recorded: a model trained on a dataset version and
deployed, its request log written by the real RequestLogger (one window as trained, one shifted),
``td.monitoring.run_monitor``, then the dashboard and the drill-down of a shifted column."""

from __future__ import annotations

import os
import re

import httpx
import pytest

import treadle as td
from tests.monitoring.runner_support import DEPLOYMENT, FEATURES, frame, now_ms, served_model, served_records, write_log
from treadle.monitoring._runner import LOG_GRACE_MS
from treadle.server import create_app
from treadle.testing.server import serve

pytestmark = pytest.mark.slow


def test_runner_windows_render() -> None:
    model = served_model()
    td.monitoring.create_monitor("churn-mon", DEPLOYMENT, target="label", window="200 rows")
    t0 = now_ms() + 10
    records = served_records(model, frame(200, seed=1), t0, "a")
    records += served_records(model, frame(200, seed=2, shift=1.5), t0 + 1000, "b", proba=True)
    write_log(records)
    reports = td.monitoring.run_monitor("churn-mon", now_ms=t0 + 3000 + LOG_GRACE_MS)
    assert len(reports) == 2 and reports[1].dataset_drift
    app = create_app(uri=os.environ["TREADLE_URI"], artifacts=os.environ["TREADLE_ARTIFACTS"])
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        page = http.get("/monitors/churn-mon")
        assert page.status_code == 200
        drift = re.search(r'<figure id="drift-share">.*?</figure>', page.text, flags=re.S)
        assert drift and drift.group(0).count('<circle class="point') == 2
        assert drift.group(0).count("point marked") == 1  # the shifted window
        for column in FEATURES:
            assert f'href="/monitors/churn-mon/columns/{column}"' in page.text
        f0 = http.get("/monitors/churn-mon/columns/f0")
        assert f0.status_code == 200
        hist = re.search(r'<figure id="histogram">.*?</figure>', f0.text, flags=re.S)
        assert hist, "the runner's detail (edges, reference, current) draws a histogram"
        ref = [float(x) for x in re.findall(r'class="bar reference"[^>]*data-share="([^"]+)"', hist.group(0))]
        cur = [float(x) for x in re.findall(r'class="bar current"[^>]*data-share="([^"]+)"', hist.group(0))]
        assert len(ref) == len(cur) > 2 and sum(ref) == pytest.approx(1) and sum(cur) == pytest.approx(1)
        mean = lambda shares: sum(i * s for i, s in enumerate(shares))  # noqa: E731
        assert mean(cur) > mean(ref)  # shifted up by 1.5 standard deviations
        assert 'data-drifted="true"' in f0.text
