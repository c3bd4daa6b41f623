"""UI pages and the chart JSON over HTTP (no browser): status codes, escaping, paging, previews."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import httpx
import pytest

from tests.ui.helpers import Seeded
from treadle import Client, Metric
from treadle.ui._preview import PREVIEW_BYTES

ROW = re.compile(r'<tr data-run="([0-9a-f]{32})">')


def strict_json(text: str) -> object:
    """Parse like a browser: NaN / Infinity are not JSON."""

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------- chart JSON
def test_series_maps_nan_and_infinities_to_null(http: httpx.Client, client: Client, data: Seeded) -> None:
    run = client.tracking.create_run(data.experiment_id, name="odd-values")
    # (+inf and -inf in one series fail to log: their rollup sum is NaN; see the UI report.)
    values = [1.0, math.nan, math.inf, 2.0]
    client.log_batch(run.id, metrics=[Metric(key="odd", value=v, step=i) for i, v in enumerate(values)])
    client.log_batch(run.id, metrics=[Metric(key="neg", value=-math.inf, step=0), Metric(key="neg", value=3.0, step=1)])
    r = http.get(f"/ui/api/runs/{run.id}/metrics/odd")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = strict_json(r.text)
    assert isinstance(body, dict)
    assert body["values"] == [1.0, None, None, 2.0]
    assert body["steps"] == [0, 1, 2, 3]
    assert body["downsampled"] is False
    neg = strict_json(http.get(f"/ui/api/runs/{run.id}/metrics/neg").text)
    assert isinstance(neg, dict) and neg["values"] == [None, 3.0]


def test_series_keys_may_contain_slashes(http: httpx.Client, client: Client, data: Seeded) -> None:
    run = client.tracking.create_run(data.experiment_id, name="slashed")
    client.log_batch(run.id, metrics=[Metric(key="train/loss", value=0.5, step=3)])
    body = http.get(f"/ui/api/runs/{run.id}/metrics/train/loss").json()
    assert body["key"] == "train/loss"
    assert body["values"] == [0.5]


def long_series(client: Client, experiment_id: str, n: int) -> str:
    run = client.tracking.create_run(experiment_id, name=f"long-{n}")
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        points = [Metric(key="wave", value=math.sin(s / 500), step=s, timestamp=1 + s) for s in range(start, stop)]
        client.log_batch(run.id, metrics=points)
    return run.id


def check_downsampled(http: httpx.Client, run_id: str, n: int, max_points: int) -> None:
    r = http.get(f"/ui/api/runs/{run_id}/metrics/wave", params={"max_points": max_points})
    body = r.json()
    assert r.status_code == 200
    assert body["downsampled"] is True
    assert body["total_points"] == n
    assert 0 < len(body["steps"]) <= max_points
    assert len(body["mins"]) == len(body["maxs"]) == len(body["values"]) == len(body["steps"])
    assert body["steps"] == sorted(body["steps"])
    assert body["steps"][-1] == n - 1
    assert all(lo <= v <= hi for lo, v, hi in zip(body["mins"], body["values"], body["maxs"], strict=True))


def test_series_downsamples_to_max_points(http: httpx.Client, client: Client, data: Seeded) -> None:
    n = 20_000
    run_id = long_series(client, data.experiment_id, n)
    check_downsampled(http, run_id, n, max_points=100)
    # A zoomed range comes back in detail: every raw point of the range.
    body = http.get(
        f"/ui/api/runs/{run_id}/metrics/wave", params={"max_points": 1000, "start_step": 5000, "end_step": 5999}
    ).json()
    assert body["steps"] == list(range(5000, 6000))
    assert body["downsampled"] is False
    # An empty bound is "unbounded", as the chart sends it.
    body = http.get(f"/ui/api/runs/{run_id}/metrics/wave?max_points=50&start_step=&end_step=").json()
    assert len(body["steps"]) <= 50


@pytest.mark.slow
def test_series_of_200k_points_downsamples(http: httpx.Client, client: Client, data: Seeded) -> None:
    n = 200_000
    run_id = long_series(client, data.experiment_id, n)
    check_downsampled(http, run_id, n, max_points=1000)
    ranged = http.get(
        f"/ui/api/runs/{run_id}/metrics/wave", params={"max_points": 500, "start_step": 50_000, "end_step": 150_000}
    ).json()
    assert 0 < len(ranged["steps"]) <= 500
    assert ranged["steps"][0] >= 50_000 and ranged["steps"][-1] <= 150_000 + 256


def test_series_errors_are_json(http: httpx.Client, data: Seeded) -> None:
    missing = http.get("/ui/api/runs/0123456789abcdef0123456789abcdef/metrics/acc")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    run = data.runs["alpha"]
    assert http.get(f"/ui/api/runs/{run}/metrics/acc", params={"max_points": 0}).status_code == 422
    assert http.get(f"/ui/api/runs/{run}/metrics/acc", params={"start_step": "abc"}).status_code == 400
    assert http.get(f"/ui/api/runs/{run}/metrics/acc", params={"end_step": "1e30"}).status_code == 400


# ---------------------------------------------------------------- pages
def test_experiments_list_links_each_experiment(http: httpx.Client, data: Seeded) -> None:
    r = http.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert f'href="/experiments/{data.experiment_id}"' in r.text
    assert f'href="/experiments/{data.empty_experiment_id}"' in r.text


def test_unknown_ids_get_friendly_404_pages(http: httpx.Client) -> None:
    for path in (
        "/experiments/999999",
        "/experiments/not-a-number",
        "/experiments/99999999999999999999",  # beyond 64 bits
        "/experiments/999999/runs",
        "/runs/0123456789abcdef0123456789abcdef",
        "/runs/0123456789abcdef0123456789abcdef/preview?path=x.txt",
        "/compare?runs=0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210",
    ):
        r = http.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert re.search("not found|does not exist|do not exist", r.text, re.I), path


def test_compare_needs_two_to_ten_runs(http: httpx.Client, data: Seeded) -> None:
    one = http.get("/compare", params={"runs": data.runs["alpha"]})
    assert one.status_code == 400
    assert "2 to 10" in one.text
    same = http.get("/compare", params={"runs": f"{data.runs['alpha']},{data.runs['alpha']}"})
    assert same.status_code == 400  # duplicates count once


def test_everything_is_escaped(http: httpx.Client, client: Client) -> None:
    exp = client.create_experiment("<script>alert('x')</script>", description="<img src=x onerror=alert(1)>")
    run = client.tracking.create_run(exp.id, name="<b>bold</b>", tags={"k": "<u>v</u>"})
    client.log_batch(run.id, params={"p": "<svg onload=alert(1)>"})
    for path in ("/", f"/experiments/{exp.id}", f"/runs/{run.id}"):
        text = http.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>bold" not in text, path
        assert "<svg onload" not in text and "<u>v</u>" not in text, path
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in http.get("/").text


def test_filter_and_sort_through_the_fragment(http: httpx.Client, data: Seeded) -> None:
    base = f"/experiments/{data.experiment_id}/runs"
    r = http.get(base, params={"filter": "params.lr = '0.01'"})
    assert r.status_code == 200
    assert ROW.findall(r.text) == [data.runs["beta"]]
    assert r.headers["hx-push-url"] == f"/experiments/{data.experiment_id}?filter=params.lr+%3D+%270.01%27"
    assert "<html" not in r.text  # a fragment, not a page
    ordered = ROW.findall(http.get(base, params={"order_by": "metrics.acc DESC", "filter": "params.batch != '7'"}).text)
    assert ordered[:3] == [data.runs["beta"], data.runs["gamma"], data.runs["alpha"]]
    ascending = ROW.findall(http.get(base, params={"order_by": "metrics.acc ASC", "filter": "metrics.acc > 0"}).text)
    assert ascending == [data.runs["alpha"], data.runs["gamma"], data.runs["beta"]]


def test_bad_filter_is_an_inline_message(http: httpx.Client, data: Seeded) -> None:
    r = http.get(f"/experiments/{data.experiment_id}", params={"filter": "metrics.acc >"})
    assert r.status_code == 200
    assert 'id="filter-error"' in r.text
    assert "bad filter" in r.text
    assert ROW.findall(r.text) == []
    bad_order = http.get(f"/experiments/{data.experiment_id}", params={"order_by": "nope.x DESC"})
    assert 'id="filter-error"' in bad_order.text


def test_column_picker_chooses_columns(http: httpx.Client, data: Seeded) -> None:
    page = f"/experiments/{data.experiment_id}"
    default = http.get(page).text
    assert 'data-sort="params.lr"' in default and 'data-sort="metrics.acc"' in default
    only_lr = http.get(page, params=[("cols", ""), ("cols", "params.lr")]).text
    assert 'data-sort="params.lr"' in only_lr
    assert 'data-sort="metrics.acc"' not in only_lr and 'data-sort="params.batch"' not in only_lr
    tag = http.get(page, params={"cols": "tags.team,metrics.loss"}).text
    assert 'data-sort="tags.team"' in tag and 'data-sort="metrics.loss"' in tag
    assert 'data-sort="params.lr"' not in tag
    none = http.get(page, params={"cols": ""}).text
    assert 'data-sort="metrics.' not in none and 'data-sort="params.' not in none


def test_pages_of_runs_follow_page_tokens(http: httpx.Client, client: Client) -> None:
    exp = client.create_experiment("many-runs")
    made = {client.tracking.create_run(exp.id, name=f"r{i:03d}", start_time=1_000 + i).id for i in range(230)}
    first = http.get(f"/experiments/{exp.id}")
    rows1 = ROW.findall(first.text)
    assert len(rows1) == 100
    assert "runs 1\u2013100" in first.text
    next_url = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert next_url
    second = http.get(next_url.group(1).replace("&amp;", "&"))
    rows2 = ROW.findall(second.text)
    assert len(rows2) == 100 and not set(rows1) & set(rows2)
    assert "runs 101\u2013200" in second.text
    third = http.get(re.search(r'rel="next" href="([^"]+)"', second.text).group(1).replace("&amp;", "&"))  # type: ignore[union-attr]
    rows3 = ROW.findall(third.text)
    assert len(rows3) == 30 and 'rel="next"' not in third.text
    assert set(rows1) | set(rows2) | set(rows3) == made
    back = re.search(r'rel="prev" href="([^"]+)"', third.text)
    assert back
    assert ROW.findall(http.get(back.group(1).replace("&amp;", "&")).text) == rows2
    bad_token = http.get(f"/experiments/{exp.id}", params={"page_token": "garbage"})
    assert bad_token.status_code == 200 and 'id="filter-error"' in bad_token.text


def test_run_page_shows_params_tags_and_hides_system_tags(http: httpx.Client, data: Seeded) -> None:
    text = http.get(f"/runs/{data.runs['alpha']}").text
    assert re.search(r'<table class="kv" id="params">.*optimizer.*adam', text, re.S)
    user_tags = re.search(r'id="tags">(.*?)</table>', text, re.S)
    assert user_tags and "team" in user_tags.group(1) and "treadle.user" not in user_tags.group(1)
    assert re.search(r'<details class="system-tags">\s*<summary>System tags \(1\)', text)
    assert 'data-key="acc"' in text and 'data-key="loss"' in text
    assert "uPlot.iife.min.js" in text


def test_artifact_previews(http: httpx.Client, client: Client, data: Seeded) -> None:
    alpha = data.runs["alpha"]
    text = http.get(f"/runs/{alpha}/preview", params={"path": "notes.txt"})
    assert text.status_code == 200
    assert "hello from alpha" in text.text and "&lt;script&gt;window.pwned" in text.text
    assert text.headers["hx-replace-url"] == f"/runs/{alpha}?artifact=notes.txt"
    table = http.get(f"/runs/{alpha}/preview", params={"path": "eval/table.json"}).text
    assert re.search(r"<th>label</th>\s*<th>score</th>", table)
    assert '<td class="mono">dog</td>' in table
    yaml = http.get(f"/runs/{alpha}/preview", params={"path": "config.yaml"}).text
    assert "layers:" in yaml
    image = http.get(f"/runs/{alpha}/preview", params={"path": "plots/red.png"}).text
    assert f'src="/api/v1/runs/{alpha}/artifacts/plots/red.png"' in image
    assert http.get(f"/api/v1/runs/{alpha}/artifacts/plots/red.png").content.startswith(b"\x89PNG")
    assert f'href="/api/v1/runs/{alpha}/artifacts/plots/red.png?download=1"' in image
    missing = http.get(f"/runs/{alpha}/preview", params={"path": "nope.txt"})
    assert missing.status_code == 404 and "no artifact" in missing.text
    linked = http.get(f"/runs/{alpha}", params={"artifact": "eval/table.json"}).text
    assert "<th>label</th>" in linked  # the preview is rendered into the page


def test_large_and_binary_artifacts(http: httpx.Client, client: Client, data: Seeded) -> None:
    run = client.tracking.create_run(data.experiment_id, name="files")
    client.log_text(run.id, "x" * (PREVIEW_BYTES + 5000) + "THE-END", "big.log")
    client.log_bytes(run.id, bytes(range(256)) * 10, "weights.bin")
    client.log_table(run.id, {"a": [1, 2, 3]}, "data.csv")
    big = http.get(f"/runs/{run.id}/preview", params={"path": "big.log"}).text
    assert "first 200 KB" in big and "THE-END" not in big
    assert "Binary file" in http.get(f"/runs/{run.id}/preview", params={"path": "weights.bin"}).text
    csv = http.get(f"/runs/{run.id}/preview", params={"path": "data.csv"}).text
    assert "<th>a</th>" in csv and csv.count("<tr>") == 4  # header + 3 rows


def test_compare_page_diffs_params(http: httpx.Client, data: Seeded) -> None:
    ids = [data.runs["alpha"], data.runs["beta"]]
    r = http.get("/compare", params={"runs": ",".join(ids)})
    assert r.status_code == 200
    diff = re.search(r'id="param-diff">(.*?)</table>', r.text, re.S)
    assert diff
    rows = re.findall(r'<tr class="(differs|same)">\s*<th[^>]*>([^<]+)</th>', diff.group(1))
    assert {key: cls for cls, key in rows} == {"batch": "same", "lr": "differs", "optimizer": "same"}
    assert 'data-key="acc"' in r.text and 'data-key="loss"' in r.text
    repeated = http.get("/compare", params=[("runs", ids[0]), ("runs", ids[1])])
    assert repeated.status_code == 200  # the experiment page's form sends runs=a&runs=b


def test_static_assets_are_vendored(http: httpx.Client) -> None:
    for path in (
        "/static/vendor/htmx/htmx.min.js",
        "/static/vendor/uplot/uPlot.iife.min.js",
        "/static/vendor/uplot/uPlot.min.css",
        "/static/treadle.css",
        "/static/treadle.js",
        "/static/charts.js",
    ):
        assert http.get(path).status_code == 200, path
    page = http.get("/").text
    assert "http://" not in page and "https://" not in page  # nothing from the internet


def test_vendor_licenses_ship(tmp_path: Path) -> None:
    from treadle.ui import STATIC_DIR

    for lib in ("htmx", "uplot"):
        assert (STATIC_DIR / "vendor" / lib / "LICENSE").read_text().strip()
