"""Deployment pages over HTTP (no browser): the list, one deployment's live statistics, settings and
histories, the polled statistics fragment, and the promote / rollback forms.

The store holds real scikit-learn models; deployments are applied and their traffic and rewards
recorded through the rollout service, as a serving process does; the UI is the real server app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from tests.ui.deployment_helpers import (
    AB,
    CANARY,
    MODEL,
    DeploySeed,
    client_of,
    fresh_canary,
    give_rewards,
    seed_deployments,
    serve_traffic,
)
from treadle.rollout import DeploymentSpec
from treadle.server import create_app
from treadle.testing.server import serve

HTMX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> DeploySeed:
    return seed_deployments(Path(tmp_path_factory.mktemp("ui-deployments")))


@pytest.fixture(scope="module")
def http(seeded: DeploySeed) -> Iterator[httpx.Client]:
    with serve(create_app(uri=seeded.uri, artifacts=seeded.artifacts)) as url, httpx.Client(base_url=url) as c:
        yield c


def flat(html: str) -> str:
    """Text without tags, entities decoded, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def element(html: str, tag: str, attrs: str) -> str:
    """The inner HTML of the first ``<tag ...attrs...>`` (non-nested tags only)."""
    found = re.search(rf"<{tag}[^>]*{attrs}[^>]*>(.*?)</{tag}>", html, re.S)
    assert found, f"<{tag} {attrs}>"
    return found.group(1)


def row(html: str, variant: str) -> dict[str, str]:
    """The statistics table's row of ``variant`` as {cell class: text}."""
    table = element(html, "table", 'id="variant-stats"')
    body = element(table, "tr", f'data-variant="{variant}"')
    cells = re.findall(r'<td class="num ([\w-]+)[^"]*">(.*?)</td>', body, re.S)
    return {cls: flat(text) for cls, text in cells}


def post(http: httpx.Client, path: str, form: dict[str, str], htmx: bool = True) -> httpx.Response:
    return http.post(path, data=form, headers=HTMX if htmx else {})


# ---------------------------------------------------------------- list
def test_nav_links_deployments(http: httpx.Client) -> None:
    assert 'href="/deployments"' in http.get("/models").text
    assert re.search(r'href="/deployments" aria-current="page"', http.get("/deployments").text)
    assert re.search(r'href="/deployments" aria-current="page"', http.get(f"/deployments/{CANARY}").text)


def test_list_shows_each_deployment(http: httpx.Client) -> None:
    r = http.get("/deployments")
    assert r.status_code == 200
    canary = flat(element(r.text, "tr", f'data-deployment="{CANARY}"'))
    assert canary.startswith(f"{CANARY} r2 canary active control 90.0% canary 10.0% 1000 ")
    assert "by ana mirror v3 as a shadow" in canary
    ab = flat(element(r.text, "tr", f'data-deployment="{AB}"'))
    assert ab.startswith(f"{AB} r1 A/B active a 50.0% b 50.0% 0 ") and ab.endswith("by bo A/B v1 against v2")
    assert f'href="/deployments/{CANARY}"' in r.text


def test_empty_list_says_how_to_start(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'empty.db'}"
    with serve(create_app(uri=store, artifacts=str(tmp_path / "art"))) as url:
        text = httpx.get(url + "/deployments").text
    assert 'id="deployments"' not in text and "treadle deploy apply" in text


# ---------------------------------------------------------------- one deployment
def test_stats_table_shows_the_recorded_numbers(http: httpx.Client, seeded: DeploySeed) -> None:
    text = http.get(f"/deployments/{CANARY}").text
    stats = {v.variant: v for v in client_of(seeded).rollout.get_stats(CANARY).variants}
    control, canary = row(text, "control"), row(text, "canary")
    assert (control["requests"], canary["requests"]) == ("900", "100")
    assert (control["error-rate"], canary["error-rate"]) == ("0.44%", "2.00%")
    assert (control["rewards"], canary["rewards"]) == ("60", "20")
    assert control["reward-mean"].startswith("0.25 [") and canary["reward-mean"].startswith("0.45 [")
    low, high = stats["canary"].ci_low, stats["canary"].ci_high
    assert low is not None and high is not None
    assert canary["reward-mean"] == f"0.45 [{low:.4g}, {high:.4g}]"
    for name, cells in (("control", control), ("canary", canary)):
        s = stats[name]
        assert s.p50_ms is not None and s.p99_ms is not None and s.prob_best is not None
        assert cells["p50"] == f"{s.p50_ms:.1f} ms" and cells["p99"] == f"{s.p99_ms:.1f} ms"
        assert cells["prob-best"] == f"{s.prob_best * 100:.1f}%"
    assert 30 < stats["canary"].p50_ms < 50 and stats["control"].p50_ms < 15  # type: ignore[operator]
    assert control["p-value"] == "control"
    assert canary["p-value"] == f"{stats['canary'].p_value:.4f}"
    assert 'href="/models/ranker/versions/2"' in element(text, "tr", 'data-variant="canary"')
    assert 'href="/models/ranker">models:/ranker@champion' in element(text, "tr", 'data-variant="control"')
    assert re.search(r'<tr data-variant="canary" class="winner">.*?leading', text, re.S)  # P(best) 0.96 < 0.97


def test_traffic_split_bars_expected_vs_observed(http: httpx.Client, seeded: DeploySeed) -> None:
    name = fresh_canary(seeded, control=(700, 0, 10.0, 0), canary=(300, 0, 10.0, 0))
    text = http.get(f"/deployments/{name}").text
    split = text[text.index('id="traffic-split"') : text.index('id="srm"')]
    canary = split[split.index('data-variant="canary"') :]
    assert re.search(r'class="bar expected"[^>]*><span style="width: 10.00%"', canary)
    assert re.search(r'class="bar observed"[^>]*><span style="width: 30.00%"', canary)
    nums = flat(split)
    assert "canary expected 10.0% · observed 30.0%" in nums and "control expected 90.0% · observed 70.0%" in nums
    srm = flat(element(text, "p", 'id="srm"'))
    assert 'class="srm srm-mismatch"' in text and srm.startswith("Sample ratio: sample ratio mismatch (p = ")


def test_srm_ok_shadow_guardrails_auto_promote(http: httpx.Client) -> None:
    text = http.get(f"/deployments/{CANARY}").text
    assert flat(element(text, "p", 'id="srm"')) == "Sample ratio: split matches the weights (p = 1)"
    shadow = flat(element(text, "p", 'id="shadow"'))
    assert shadow == "models:/ranker/3 mirrors 50% of requests: 500 mirrored, 8 disagreed — agreement 98.4%"
    guard = flat(element(text, "section", 'id="guardrails"'))
    assert "Max error rate 5.00%" in guard and "Max p99 latency 800 ms" in guard and "After 50 requests" in guard
    auto = flat(element(text, "section", 'id="auto-promote"'))
    assert "Enabled yes" in auto and "P(best) at least 0.97" in auto and "Rewards per variant 500" in auto
    assert 'id="breaches"' not in text
    assert flat(element(text, "p", 'id="verdict"')) == "canary leads, but not yet significantly."


def test_guardrail_breach_is_shown(http: httpx.Client, seeded: DeploySeed) -> None:
    name = fresh_canary(seeded, control=(900, 0, 10.0, 0), canary=(100, 20, 10.0, 0))
    breaches = flat(element(http.get(f"/deployments/{name}").text, "div", 'id="breaches"'))
    assert "variant 'canary': error rate 20.00% > 5.00% over 100 requests" in breaches
    assert re.search(r'<td class="num error-rate over-limit">20.00%</td>', http.get(f"/deployments/{name}").text)


def test_revision_and_alias_history(http: httpx.Client) -> None:
    text = http.get(f"/deployments/{CANARY}").text
    revisions = re.findall(r'<li data-revision="(\d+)" data-status="(\w+)">(.*?)</li>', text, re.S)
    assert [(r, s) for r, s, _ in revisions] == [("2", "active"), ("1", "active")]
    assert flat(revisions[0][2]).endswith("r2 active current by ana control 90 canary 10 “mirror v3 as a shadow”")
    assert flat(revisions[1][2]).endswith("r1 active by ana control 90 canary 10 “first canary of v2”")
    moves = element(text, "ol", 'id="alias-history"')
    assert flat(moves).endswith("set champion → v1 “baseline model”")
    settings = flat(element(text, "section", 'id="settings"'))
    assert "Promotion moves ranker champion" in settings and "Shadow models:/ranker/3 at 50%" in settings


def test_ab_and_bandit_pages(http: httpx.Client, seeded: DeploySeed) -> None:
    text = http.get(f"/deployments/{AB}").text
    assert "Unit key user_id" in flat(text) and row(text, "b")["requests"] == "0"
    assert flat(element(text, "p", 'id="srm"')).endswith("not checked yet: too little traffic")
    assert "No rewards yet" in flat(element(text, "p", 'id="verdict"'))
    assert "This deployment serves no single" not in text  # both variants serve ranker: its alias is shown
    client = client_of(seeded)
    arms = [{"name": "v1", "model": f"models:/{MODEL}/1"}, {"name": "v3", "model": "/tmp/elsewhere"}]
    spec = {"name": "ranker-bandit", "bandit": {"policy": "ucb", "arms": arms}}
    dep = client.rollout.apply_deployment(DeploymentSpec.model_validate(spec))
    serve_traffic(client, "ranker-bandit", dep.revision, {"v1": (40, 0, 5.0, 0), "v3": (160, 0, 5.0, 0)})
    give_rewards(client, "ranker-bandit", dep.revision, "v3", 30, 20)
    text = http.get("/deployments/ranker-bandit").text
    assert flat(element(text, "p", 'id="srm"')).endswith("not checked: a bandit moves traffic on purpose")
    assert 'class="bar expected"' not in text and "observed 80.0%" in text
    assert "Bandit ucb, binary rewards, c = 2" in flat(text)
    assert "This deployment serves no single registered model" in text and "/tmp/elsewhere" in text
    assert 'id="rollback-form"' in text


def test_unknown_deployment_is_404(http: httpx.Client) -> None:
    r = http.get("/deployments/no-such-thing")
    assert r.status_code == 404 and "There is no deployment named &#39;no-such-thing&#39;" in r.text
    assert 'href="/deployments"' in r.text
    fragment = http.get("/deployments/no-such-thing/stats")
    assert fragment.status_code == 404 and "no longer exists" in fragment.text and "<html" not in fragment.text
    assert post(http, "/deployments/no-such-thing/rollback", {"reason": "x"}).status_code == 404
    assert "&lt;b&gt;" in http.get("/deployments/<b>/stats").text  # names are escaped in the fragment


# ---------------------------------------------------------------- live refresh
def test_stats_fragment_is_polled_and_follows_new_traffic(http: httpx.Client, seeded: DeploySeed) -> None:
    name = fresh_canary(seeded, control=(90, 0, 10.0, 0), canary=(10, 0, 10.0, 0))
    page = http.get(f"/deployments/{name}").text
    live = re.search(r'<section class="block" id="live" ([^>]*)>', page)
    assert live and f'hx-get="/deployments/{name}/stats?seen=1"' in live.group(1)
    assert re.search(r'hx-trigger="every \d+s"', live.group(1))
    before = http.get(f"/deployments/{name}/stats")
    assert before.status_code == 200 and "<html" not in before.text and 'id="variant-stats"' in before.text
    assert row(before.text, "canary")["requests"] == "10"
    client = client_of(seeded)
    serve_traffic(client, name, 1, {"canary": (40, 4, 10.0, 0)})
    give_rewards(client, name, 1, "canary", 5, 5)
    after = http.get(f"/deployments/{name}/stats").text
    assert row(after, "canary")["requests"] == "50" and row(after, "canary")["rewards"] == "5"
    assert row(after, "canary")["error-rate"] == "8.00%"
    assert flat(element(after, "span", 'id="total-requests"')) == "140"
    assert 'id="new-revision"' not in http.get(f"/deployments/{name}/stats", params={"seen": 1}).text
    client.rollout.rollback(name, actor="oncall", reason="pager")  # e.g. the controller, while the page is open
    moved = http.get(f"/deployments/{name}/stats", params={"seen": 1}).text
    assert flat(element(moved, "div", 'id="new-revision"')).startswith(
        "This deployment moved on to revision 2 (rolled back: pager). Reload"
    )


# ---------------------------------------------------------------- promote / rollback
def test_promote_with_htmx_moves_the_alias(http: httpx.Client, seeded: DeploySeed) -> None:
    name = fresh_canary(seeded, control=(90, 0, 10.0, 0), canary=(10, 0, 10.0, 0))
    r = post(http, f"/deployments/{name}/promote", {"variant": "canary", "reason": "v2 wins <b>clearly</b>"})
    assert r.status_code == 200 and "<html" not in r.text  # the panel, for #deployment-panel
    assert flat(element(r.text, "div", 'class="page-head"')).startswith(f"{name} revision 2 canary promoted")
    assert flat(element(r.text, "div", 'id="flash"')) == (
        f"Promoted: revision 2 sends all traffic to models:/{name}@champion."
    )
    assert "v2 wins &lt;b&gt;clearly&lt;/b&gt;" in r.text and "<b>clearly" not in r.text
    revisions = re.findall(r'<li data-revision="(\d+)" data-status="(\w+)">(.*?)</li>', r.text, re.S)
    assert [(n, s) for n, s, _ in revisions] == [("2", "promoted"), ("1", "active")]
    assert "by ui" in flat(revisions[0][2])
    assert 'id="promote-form"' not in r.text and "is promoted" in flat(r.text)
    newest = flat(element(element(r.text, "ol", 'id="alias-history"'), "li", 'data-alias="champion"'))
    assert newest.endswith(f"ui moved champion v1 → v2 “deployment {name} r1: v2 wins <b>clearly</b>”")
    client = client_of(seeded)
    assert client.get_model_version_by_alias(name, "champion").version == 2
    assert client.rollout.get_deployment(name).status == "promoted"


def test_rollback_with_a_plain_form_redirects(http: httpx.Client, seeded: DeploySeed) -> None:
    name = fresh_canary(seeded, control=(90, 0, 10.0, 0), canary=(10, 0, 10.0, 0))
    r = post(http, f"/deployments/{name}/rollback", {"reason": "latency spike"}, htmx=False)
    assert r.status_code == 303 and r.headers["location"] == f"/deployments/{name}"
    text = http.get(f"/deployments/{name}").text
    assert 'class="status dep-rolled-back"' in element(text, "div", 'class="page-head"')
    assert (row(text, "control")["weight"], row(text, "canary")["weight"]) == ("90", "0")
    first = flat(re.findall(r'<li data-revision="2"[^>]*>(.*?)</li>', text, re.S)[0])
    assert first.endswith("r2 rolled back current by ui control 90 canary 0 “latency spike”")
    newest = flat(element(element(text, "ol", 'id="alias-history"'), "li", 'data-alias="champion"'))
    assert newest.endswith(f"ui noted on champion (stays v1) “deployment {name} r1: rolled back: latency spike”")
    assert client_of(seeded).get_model_version_by_alias(name, "champion").version == 1


def test_promote_without_a_winner_explains(http: httpx.Client, seeded: DeploySeed) -> None:
    name = fresh_canary(seeded)
    r = post(http, f"/deployments/{name}/promote", {"variant": "", "reason": ""})
    assert r.status_code == 200 and "has no winner yet" in flat(element(r.text, "div", 'id="form-error"'))
    plain = post(http, f"/deployments/{name}/promote", {"variant": "nope"}, htmx=False)
    assert plain.status_code == 400 and "<html" in plain.text and "has no variant &#39;nope&#39;" in plain.text
    assert client_of(seeded).rollout.get_deployment(name).revision == 1


def test_forms_refuse_cross_site_and_non_form_bodies(http: httpx.Client, seeded: DeploySeed) -> None:
    name = fresh_canary(seeded)
    foreign = http.post(
        f"/deployments/{name}/rollback", data={"reason": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    as_json = http.post(f"/deployments/{name}/rollback", json={"reason": "x"}, headers=HTMX)
    assert "send the form urlencoded" in as_json.text
    assert client_of(seeded).rollout.get_deployment(name).revision == 1


def test_thin_and_dark_experiments_render(http: httpx.Client, seeded: DeploySeed) -> None:
    """One continuous reward (no interval yet), a dark variant at weight 0 and a variant with no
    traffic all render, in the page, the polled fragment and the list."""
    client = client_of(seeded)
    arms = [
        {"name": "a", "model": f"models:/{MODEL}/1"},
        {"name": "b", "model": f"models:/{MODEL}/2"},
        {"name": "dark", "model": f"models:/{MODEL}/3", "weight": 0},
    ]
    name = "thin-bandit"
    spec = {"name": name, "bandit": {"policy": "thompson", "reward": "continuous", "arms": arms}}
    dep = client.rollout.apply_deployment(DeploymentSpec.model_validate(spec))
    client.rollout.record_feedback(f"{name}/{dep.revision}/a/0123456789abcdef", 3.5)
    for path in (f"/deployments/{name}", f"/deployments/{name}/stats", "/deployments"):
        r = http.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert "inf" not in flat(r.text).split()
    text = http.get(f"/deployments/{name}").text
    assert row(text, "a")["reward-mean"] == "3.5" and row(text, "dark")["prob-best"] == "—"
    assert row(text, "b")["requests"] == "0"
