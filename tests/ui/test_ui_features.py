"""Feature store pages over HTTP (no browser): views and entities with search, a view (schema, source,
versions with changes, freshness, lineage, an older version, an on-demand view's transform), an entity,
the skew check (htmx and plain form), and the 404 page for unknown views, versions and entities."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.ui.feature_helpers import FeatureSeed, seed_features
from tests.ui.helpers import Seeded
from treadle import Client
from treadle.server import create_app
from treadle.testing.server import serve


@pytest.fixture(scope="module")
def seeded(client: Client, data: Seeded, tmp_path_factory: pytest.TempPathFactory) -> FeatureSeed:
    return seed_features(client, tmp_path_factory.mktemp("features"))


@pytest.fixture(scope="module")
def web(seeded: FeatureSeed, data: Seeded) -> Iterator[httpx.Client]:
    """A server over the seeded store (the app shares the client's backend, so its online store too)."""
    with serve(create_app(uri=data.uri, artifacts=data.artifacts)) as url, httpx.Client(base_url=url) as c:
        yield c


def flat(html: str) -> str:
    return htmllib.unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))


def element(html: str, element_id: str, tag: str = "section") -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</{tag}>', html, re.S)
    assert found, element_id
    return found.group(1)


def row(html: str, attr: str, value: str) -> str:
    found = re.search(rf'<tr {attr}="{value}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"{attr}={value}"
    return found.group(1)


def rows(html: str, attr: str) -> list[str]:
    return re.findall(rf'<tr {attr}="([^"]+)"', html)


def test_nav_and_list(web: httpx.Client, seeded: FeatureSeed) -> None:
    assert 'href="/features"' in web.get("/").text
    r = web.get("/features")
    assert r.status_code == 200 and re.search(r'href="/features" aria-current="page"', r.text)
    assert rows(r.text, "data-view") == [seeded.score, seeded.stats, seeded.zones]
    assert rows(r.text, "data-entity") == [seeded.driver, seeded.rider, seeded.zone]
    stats = flat(row(r.text, "data-view", seeded.stats))
    for text in (seeded.driver, "2", "dataset", f"{seeded.dataset} (latest)", "2d", "yes", "v2", "ago"):
        assert text in stats, text
    assert f'href="/features/entities/{seeded.driver}"' in row(r.text, "data-view", seeded.stats)
    assert f'href="/datasets/{seeded.dataset}"' in row(r.text, "data-view", seeded.stats)
    zones = flat(row(r.text, "data-view", seeded.zones))
    assert "file" in zones and f"parquet at {seeded.parquet}" in zones and "never materialized" in zones
    assert "none" in zones  # no ttl
    score = flat(row(r.text, "data-view", seeded.score))
    assert "on demand" in score and seeded.stats in score and "computed at lookup" in score
    driver = flat(row(r.text, "data-entity", seeded.driver))
    assert "driver_id" in driver and "a taxi driver" in driver and "team=mobility" in driver


def test_search_by_view_entity_and_feature(web: httpx.Client, seeded: FeatureSeed) -> None:
    def found(q: str) -> tuple[list[str], list[str]]:
        html = web.get("/features", params={"q": q}).text
        return rows(html, "data-view"), rows(html, "data-entity")

    assert found("ZONE") == ([seeded.zones], [seeded.zone])  # by name, any case; the view by its entity
    assert found(seeded.driver) == ([seeded.score, seeded.stats], [seeded.driver])
    assert found("rating") == ([seeded.stats], [])  # a feature name
    assert found("rider_id") == ([], [seeded.rider])  # a join key
    html = web.get("/features", params={"q": "nothing-like-it"}).text
    assert 'id="no-views"' in html and 'id="no-entities"' in html and 'value="nothing-like-it"' in html


def test_view_page(web: httpx.Client, seeded: FeatureSeed) -> None:
    r = web.get(f"/features/views/{seeded.stats}")
    assert r.status_code == 200 and re.search(r'href="/features" aria-current="page"', r.text)
    page = flat(r.text)
    assert f"{seeded.stats} v2" in page and "how busy a driver is" in page and "owner ana" in page
    assert "team=mobility" in element(r.text, "view-tags", "p")
    schema = element(r.text, "schema")
    assert rows(schema, "data-feature") == ["trips", "rating"]
    assert "int64" in row(schema, "data-feature", "trips") and "float64" in row(schema, "data-feature", "rating")
    definition = element(r.text, "definition")
    assert f'href="/features/entities/{seeded.driver}"' in definition and "driver_id" in definition
    assert f'href="/datasets/{seeded.dataset}"' in element(r.text, "view-source", "td")
    assert flat(element(r.text, "view-ttl", "td")) == "2d (172800 s)"
    assert flat(element(r.text, "view-online", "td")) == "yes"
    assert "event_timestamp" in definition


def test_versions_show_what_changed(web: httpx.Client, seeded: FeatureSeed) -> None:
    html = web.get(f"/features/views/{seeded.stats}").text
    versions = element(html, "versions")
    assert rows(versions, "data-version") == ["2", "1"]
    v2 = flat(row(versions, "data-version", "2"))
    assert "ttl_seconds: 86400.0 → 172800.0" in v2 and "latest" in v2
    assert 'schema[rating]: — → {"dtype": "float64", "name": "rating"}' in v2, v2
    assert "created" in flat(row(versions, "data-version", "1"))
    assert f'href="/features/views/{seeded.stats}?version=1"' in versions


def test_older_version(web: httpx.Client, seeded: FeatureSeed) -> None:
    for raw in ("1", "v1"):
        r = web.get(f"/features/views/{seeded.stats}", params={"version": raw})
        assert r.status_code == 200
        assert f"{seeded.stats} v1" in flat(r.text) and 'id="old-version"' in r.text
        assert rows(element(r.text, "schema"), "data-feature") == ["trips"]
        assert flat(element(r.text, "view-ttl", "td")) == "1d (86400 s)"
        assert '<tr data-version="1" class="current">' in element(r.text, "versions")
        assert "Lineage of v1" in r.text


def test_freshness_and_last_run(web: httpx.Client, seeded: FeatureSeed) -> None:
    html = web.get(f"/features/views/{seeded.stats}").text
    fresh = element(html, "freshness")
    assert "<time data-ms=" in element(fresh, "materialized-until", "td") and "ago" in fresh
    last = flat(element(fresh, "last-run", "table"))
    assert "completed" in last and "full" in last and "v2" in last
    assert flat(element(fresh, "rows-written", "td")) == "3"
    zones = web.get(f"/features/views/{seeded.zones}").text
    assert "Not materialized yet" in element(zones, "freshness") and "treadle features materialize" in zones
    assert f"parquet at {seeded.parquet}" in flat(element(zones, "view-source", "td"))


def test_lineage_links_datasets_and_views(web: httpx.Client, seeded: FeatureSeed) -> None:
    html = web.get(f"/features/views/{seeded.stats}").text
    lineage = element(html, "lineage")
    upstream, downstream = element(lineage, "upstream", "div"), element(lineage, "downstream", "div")
    assert f'href="/datasets/{seeded.dataset}/1">{seeded.dataset} v1</a>' in upstream
    assert f'href="/features/views/{seeded.score}?version=1">{seeded.score} v1</a>' in downstream
    od = web.get(f"/features/views/{seeded.score}").text
    assert f'href="/features/views/{seeded.stats}?version=2">{seeded.stats} v2</a>' in element(od, "upstream", "div")
    old = web.get(f"/features/views/{seeded.stats}", params={"version": "1"}).text
    assert "nothing recorded" in element(old, "downstream", "div")  # the on-demand view reads v2


def test_on_demand_view(web: httpx.Client, seeded: FeatureSeed, client: Client) -> None:
    r = web.get(f"/features/views/{seeded.score}")
    assert r.status_code == 200 and "on-demand feature view" in r.text
    assert f'href="/features/views/{seeded.stats}"' in element(r.text, "source-views", "td")
    assert "bonus float64" in flat(element(r.text, "request-sources", "td"))
    assert "score function, pandas batches" in flat(element(r.text, "definition"))
    stored = client.features.get_view(seeded.score).spec["transform"]["source"]
    if stored:  # the page shows the source text the store kept
        source = flat(element(r.text, "transform-source", "pre"))
        assert "def score(df: pd.DataFrame)" in source and 'df["trips"] * df["bonus"]' in source
    else:
        assert "source text was not recorded" in element(r.text, "transform")
    assert "pickle" not in r.text and 'id="skew-form"' not in r.text and 'id="freshness"' not in r.text
    assert rows(element(r.text, "schema"), "data-feature") == ["score"]


def test_entity_page(web: httpx.Client, seeded: FeatureSeed) -> None:
    r = web.get(f"/features/entities/{seeded.driver}")
    assert r.status_code == 200 and re.search(r'href="/features" aria-current="page"', r.text)
    assert flat(element(r.text, "join-keys", "td")) == "driver_id" and "a taxi driver" in r.text
    assert "team" in element(r.text, "entity-tags", "table")
    assert rows(element(r.text, "entity-views"), "data-view") == [seeded.stats]
    unused = web.get(f"/features/entities/{seeded.rider}").text
    assert "No feature view uses this entity yet." in unused


def test_skew_check_htmx_and_plain_form(web: httpx.Client, seeded: FeatureSeed) -> None:
    url = f"/features/views/{seeded.stats}/skew"
    r = web.post(url, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    summary = flat(element(r.text, "skew-summary", "p"))
    assert "3 entities sampled" in summary and "1 stale online" in summary and "0 missing online" in summary
    trips = row(r.text, "data-feature", "trips")
    assert '<tr data-feature="trips" class="skewed">' in r.text
    assert "1</td>" in trips and "33.3%" in trips and "driver_id=1: 6 ≠ 99" in flat(trips)
    assert "0.0%" in row(r.text, "data-feature", "rating")
    page = web.post(url)  # no JavaScript: the whole page, with the result in place
    assert page.status_code == 200 and "<html" in page.text
    assert "3 entities sampled" in flat(element(page.text, "skew-result", "div"))


def test_skew_check_refusals(web: httpx.Client, seeded: FeatureSeed) -> None:
    on_demand = web.post(f"/features/views/{seeded.score}/skew", headers={"HX-Request": "true"})
    assert on_demand.status_code == 200
    assert "is an on-demand feature view" in element(on_demand.text, "skew-error", "div")
    assert web.post(f"/features/views/{seeded.score}/skew").status_code == 400
    assert web.post("/features/views/ghost/skew").status_code == 404
    cross = web.post(f"/features/views/{seeded.stats}/skew", headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "title"),
    [
        ("/features/views/ghost", {}, "Feature view not found"),
        ("/features/views/%3Cb%3Ex", {}, "Feature view not found"),
        ("/features/views/{stats}", {"version": "9"}, "Version not found"),
        ("/features/views/{stats}", {"version": "0"}, "Version not found"),
        ("/features/views/{stats}", {"version": "abc"}, "Version not found"),
        ("/features/views/{stats}", {"version": "99999999999999999999"}, "Version not found"),
        ("/features/views/{stats}", {"version": "-1"}, "Version not found"),
        ("/features/entities/ghost", {}, "Entity not found"),
    ],
)
def test_unknown_things_get_the_404_page(
    web: httpx.Client, seeded: FeatureSeed, path: str, params: dict[str, str], title: str
) -> None:
    r = web.get(path.format(stats=seeded.stats), params=params)
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert f"<h1>{title}</h1>" in r.text and 'href="/features"' in r.text and "<b>x" not in r.text


def test_sources_transforms_and_spans_in_words() -> None:
    from treadle.ui._feature_info import describe_source, fmt_span, fmt_ttl, transform_info

    sql = describe_source({"kind": "sql", "url": "postgresql://u:***@db/x", "query": "SELECT *\n  FROM trips"})
    assert sql is not None and sql.text == "postgresql://u:***@db/x: SELECT * FROM trips" and sql.url is None
    stream = describe_source({"kind": "redis_stream", "url": "redis://r:6379/0", "stream": "rides", "group": "g"})
    assert stream is not None and stream.text == "stream rides at redis://r:6379/0"
    pinned = describe_source({"kind": "dataset", "name": "trips", "version": 3}, root="/ui")
    assert pinned is not None and (pinned.text, pinned.url) == ("trips (v3)", "/ui/datasets/trips/3")
    assert describe_source(None) is None
    assert [fmt_span(ms) for ms in (1_500, 45_000, 725_000, 12_000_000, 2 * 86_400_000)] == [
        "1.5s", "45s", "12m 05s", "3h 20m", "2d",
    ]  # fmt: skip
    assert (fmt_ttl(None), fmt_ttl(0.5), fmt_ttl(90_000)) == ("none", "0.5s", "1d 1h")
    nested = {"kind": "transform", "batch_format": "arrow", "spec": {"name": "fare", "source": "def fare(t): ..."}}
    assert transform_info({"transform": nested}) == {
        "kind": "treadle.data transform", "name": "fare", "batch_format": "arrow", "source": "def fare(t): ...",
    }  # fmt: skip
    assert transform_info({}) is None
