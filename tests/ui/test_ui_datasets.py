"""Dataset pages over HTTP (no browser): list and search, dataset, version (schema, statistics, sample,
files and thumbnails, usage), file bytes, diff, and the 404/400 pages for bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

import treadle as td
from tests.ui.helpers import Seeded, log_model_files, tiny_png
from treadle import Client
from treadle.tracking import InputRef


@dataclass(frozen=True)
class Datasets:
    run: str  # consumed people v1; churn-ds v1 was registered from it


@pytest.fixture(scope="module")
def sets(client: Client, data: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Datasets:
    """``people`` v1/v2 (prod → v1, tags), ``pics`` (a PNG, a text file, an HTML file), and a run + model using v1."""
    v1 = pd.DataFrame({"id": [1, 2, 3], "age": [30.0, 40.0, None], "city": ["oslo", "rome", "oslo"]})
    v2 = pd.DataFrame({"id": [1, 2, 4], "age": [31.0, 40.0, 5.0], "city": ["oslo", "rome", "lima"], "z": [7, 7, 7]})
    td.datasets.create("people", v1, description="who lives where", tags={"team": "geo"}, client=client)
    td.datasets.create("people", v2, client=client)
    td.datasets.set_alias("people", "prod", 1, client=client)
    folder = tmp_path_factory.mktemp("pics")
    (folder / "cats").mkdir()
    (folder / "cats" / "red.png").write_bytes(tiny_png())
    (folder / "notes.txt").write_text("two red pixels\n")
    (folder / "page.html").write_text("<script>window.pwned = 1</script>")
    td.datasets.create("pics", folder, tags={"team": "vision"}, client=client)
    run = client.tracking.create_run(data.experiment_id, name="uses-people")
    client.tracking.log_inputs(run.id, [InputRef(uri="datasets:/people/1", name="people")])
    client.registry.create_version("churn-ds", log_model_files(client, run.id))
    return Datasets(run=run.id)


def flat(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def section(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"(.*?)</section>', html, re.S)
    assert found, element_id
    return found.group(1)


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-dataset="([^"]+)">', html)


def test_nav_and_list(http: httpx.Client, sets: Datasets) -> None:
    assert 'href="/datasets"' in http.get("/").text
    r = http.get("/datasets")
    assert r.status_code == 200 and re.search(r'href="/datasets" aria-current="page"', r.text)
    assert listed(r.text) == ["pics", "people"]  # newest first
    people = re.search(r'<tr data-dataset="people">(.*?)</tr>', r.text, re.S)
    assert people
    assert 'href="/datasets/people/2">v2</a>' in people.group(1) and "prod → v1" in people.group(1)
    assert "team=geo" in people.group(1) and "who lives where" in people.group(1)


def test_search_by_name_tag_and_column(http: httpx.Client, sets: Datasets) -> None:
    assert listed(http.get("/datasets", params={"q": "LIVES"}).text) == ["people"]
    assert listed(http.get("/datasets", params={"tag": "team=vision"}).text) == ["pics"]
    assert listed(http.get("/datasets", params={"tag": "team"}).text) == ["pics", "people"]
    assert listed(http.get("/datasets", params={"column": "city"}).text) == ["people"]
    page = http.get("/datasets", params={"q": "peo", "column": "nope"}).text
    assert listed(page) == [] and 'id="no-match"' in page and 'value="peo"' in page


def test_dataset_page(http: httpx.Client, sets: Datasets) -> None:
    r = http.get("/datasets/people")
    assert r.status_code == 200
    versions = section(r.text, "versions")
    assert re.findall(r'<tr data-version="(\d+)">', versions) == ["2", "1"]
    v1 = re.search(r'<tr data-version="1">(.*?)</tr>', versions, re.S)
    assert v1 and "prod" in v1.group(1) and 'href="/datasets/people/1"' in v1.group(1)
    assert re.search(r'data-alias="prod">.*?href="/datasets/people/1"', section(r.text, "aliases"), re.S)
    assert "team=geo" in r.text and "who lives where" in r.text
    assert 'action="/datasets/people/diff"' in section(r.text, "compare")


def test_table_version_page(http: httpx.Client, sets: Datasets, client: Client) -> None:
    r = http.get("/datasets/people/prod")  # an alias works as well as a number
    assert r.status_code == 200 and 'people <span class="muted">v1</span>' in r.text
    assert client.datasets.resolve("people", 1).digest[:16] in r.text
    age = re.search(r'<tr data-column="age">(.*?)</tr>', r.text, re.S)
    assert age
    cells = flat(age.group(1))
    assert cells.startswith("age double 33.3% 2 30 40 35 7.07107")
    bars = re.findall(r'<rect [^>]*height="([\d.]+)"><title>([^<]+)</title>', age.group(1))
    assert len(bars) == 20 and bars[0][1] == "[30, 30.5): 1" and bars[-1][1] == "[39.5, 40): 1"
    assert float(bars[0][0]) > 0 and float(bars[5][0]) == 0
    city = re.search(r'<tr data-column="city">(.*?)</tr>', r.text, re.S)
    assert city and re.search(r"oslo</span> <span class=\"muted\">2</span>", city.group(1))
    sample = section(r.text, "sample")
    assert [flat(row) for row in re.findall(r"<tr>(.*?)</tr>", sample, re.S)][1:] == [
        "1 30 oslo", "2 40 rome", "3 null oslo",
    ]  # fmt: skip
    usage = section(r.text, "usage")
    assert f'href="/runs/{sets.run}"' in usage
    assert 'href="/models/churn-ds/versions/1">models:/churn-ds/1</a>' in usage
    assert "part-00000.parquet" in section(r.text, "files")
    assert 'href="/datasets/people/diff?a=1&amp;b=2"' not in r.text  # v1 has nothing before it
    v2 = http.get("/datasets/people/2").text
    assert 'href="/datasets/people/diff?a=1&amp;b=2"' in v2 and "No runs, models or feature views" in v2


def test_file_collection_page_with_thumbnails(http: httpx.Client, sets: Datasets) -> None:
    r = http.get("/datasets/pics/1")
    assert r.status_code == 200
    files = section(r.text, "files")
    assert re.findall(r'<tr data-path="([^"]+)">', files) == ["cats/red.png", "notes.txt", "page.html"]
    assert re.findall(r'<img class="thumb" src="([^"]+)"', files) == ["/datasets/pics/1/files/cats/red.png"]
    extensions = flat(section(r.text, "extensions"))
    assert ".png 1 73 B" in extensions and ".txt 1 15 B" in extensions
    only_cats = section(http.get("/datasets/pics/1", params={"prefix": "cats"}).text, "files")
    assert re.findall(r'<tr data-path="([^"]+)">', only_cats) == ["cats/red.png"]


def test_file_bytes(http: httpx.Client, sets: Datasets) -> None:
    png = http.get("/datasets/pics/1/files/cats/red.png")
    assert png.status_code == 200 and png.content == tiny_png()
    assert png.headers["content-type"] == "image/png" and "content-disposition" not in png.headers
    saved = http.get("/datasets/pics/latest/files/notes.txt", params={"download": "1"})
    assert saved.text == "two red pixels\n" and saved.headers["content-disposition"].startswith("attachment")
    html = http.get("/datasets/pics/1/files/page.html")
    assert html.headers["content-security-policy"] == "sandbox"  # user content never runs on our origin
    part = http.get("/datasets/people/1/files/part-00000.parquet")
    assert part.status_code == 200 and part.content[:4] == b"PAR1"


def test_diff_by_key(http: httpx.Client, sets: Datasets) -> None:
    r = http.get("/datasets/people/diff", params={"a": "prod", "b": "2", "key": "id"})
    assert r.status_code == 200
    counts = dict(re.findall(r'<p class="big[^"]*" id="([a-z-]+)">([^<]+)</p>', r.text))
    assert counts == {"row-counts": "3 → 3", "rows-added": "+1", "rows-removed": "\u22121", "rows-changed": "~1"}
    assert re.search(r'data-column="z" class="change-added">.*?int64', section(r.text, "schema-changes"), re.S)
    shift = section(r.text, "stats-shift")
    age_min = re.search(r'data-column="age" data-stat="min">(.*?)</tr>', shift, re.S)
    assert age_min and flat(age_min.group(1)) == "age min 30 5 -25"
    added = re.search(r'id="sample-added"(.*?)</table>', r.text, re.S)
    assert added and "lima" in added.group(1)
    changed = re.search(r'id="sample-changed"(.*?)</table>', r.text, re.S)
    assert changed and "age_before" in changed.group(1) and "31" in changed.group(1)
    assert 'value="id"' in r.text  # the form keeps the key


def test_diff_defaults_and_without_key(http: httpx.Client, sets: Datasets) -> None:
    r = http.get("/datasets/people/diff")  # latest against the one before
    assert r.status_code == 200 and "rows as a multiset" in r.text and ">+2<" in r.text
    keys = http.get("/datasets/people/diff?a=1&b=2&key=id&key=city")
    assert keys.status_code == 200 and "by key id, city" in keys.text


def test_file_collection_diff(http: httpx.Client, sets: Datasets, client: Client, tmp_path: Path) -> None:
    folder = td.datasets.get("pics", 1, client=client).download(tmp_path / "pics")
    td.datasets.create("pics-diff", folder, client=client)
    (folder / "notes.txt").write_text("changed\n")
    (folder / "new.txt").write_text("new\n")
    (folder / "page.html").unlink()
    td.datasets.create("pics-diff", folder, client=client)
    r = http.get("/datasets/pics-diff/diff")
    assert r.status_code == 200 and "by path" in r.text
    text = flat(section(r.text, "summary") + r.text[r.text.index('id="file-changes"') :])
    assert "Files added 1 new.txt" in text and "Files removed 1 page.html" in text
    assert "Files changed 1 notes.txt" in text and "3 → 3" in text


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/datasets/nope", 404, "There is no dataset named &#39;nope&#39;"),
        ("/datasets/nope/1", 404, "There is no dataset named"),
        ("/datasets/people/9", 404, "has no version &#39;9&#39;"),
        ("/datasets/people/staging", 404, "has no version &#39;staging&#39;"),
        ("/datasets/people/0", 404, "has no version"),
        ("/datasets/people/99999999999999999999", 404, "has no version"),
        ("/datasets/pics/1/files/missing.png", 404, "has no file"),
        ("/datasets/pics/1/files/%2E%2E/secret", 404, "has no file"),
        ("/datasets/people/diff?a=1&b=2&key=nope", 400, "key column(s) [&#39;nope&#39;] are not in both"),
        ("/datasets/pics/diff?a=1&b=1&key=path", 400, "file collections are compared by path"),
        ("/datasets/people/diff?a=1&b=7", 404, "has no version &#39;7&#39;"),
        ("/datasets/people/diff?a=x&b=2", 404, "has no version &#39;x&#39;"),
        ("/datasets/pics/diff", 400, "v1 is the first version"),
        ("/datasets/nope/diff", 404, "There is no dataset named"),
    ],
)
def test_bad_input_gets_a_clear_page(http: httpx.Client, sets: Datasets, path: str, status: int, fragment: str) -> None:
    r = http.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html") and fragment in r.text
    assert 'class="error-page"' in r.text
