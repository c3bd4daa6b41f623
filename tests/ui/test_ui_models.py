"""Model registry pages over HTTP (no browser): list, model, version, file downloads and the form posts."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.ui.helpers import Seeded, log_model_files
from treadle import Client

HTMX = {"HX-Request": "true"}


@pytest.fixture
def fresh(client: Client, data: Seeded) -> str:
    """A new model with two versions (from the seeded model run) for tests that change things."""
    name = f"m-{uuid.uuid4().hex[:8]}"
    uri = log_model_files(client, data.model_run)
    client.registry.create_version(name, uri)
    client.registry.create_version(name, uri)
    return name


def section(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"(.*?)</(?:section|table|ol)>', html, re.S)
    assert found, element_id
    return found.group(1)


def flat(html: str) -> str:
    """Text without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def post(http: httpx.Client, path: str, form: dict[str, str], htmx: bool = True) -> httpx.Response:
    return http.post(path, data=form, headers=HTMX if htmx else {})


# ---------------------------------------------------------------- pages
def test_nav_links_models(http: httpx.Client) -> None:
    assert 'href="/models"' in http.get("/").text
    assert re.search(r'href="/models" aria-current="page"', http.get("/models").text)


def test_model_list(http: httpx.Client, client: Client) -> None:
    r = http.get("/models")
    assert r.status_code == 200
    churn = re.search(r'<tr data-model="churn">(.*?)</tr>', r.text, re.S)
    assert churn
    assert 'href="/models/churn"' in churn.group(1) and 'href="/models/churn/versions/3">v3</a>' in churn.group(1)
    assert "challenger → v3" in churn.group(1) and "champion → v2" in churn.group(1)
    assert "who leaves next month" in churn.group(1) and "<time data-ms=" in churn.group(1)
    assert '<tr data-model="fraud">' in r.text
    client.registry.create_version("to-archive", client.registry.get_version("fraud", 1).source)
    client.registry.archive_model("to-archive")
    assert 'data-model="to-archive"' not in http.get("/models").text
    assert 'data-model="to-archive"' in http.get("/models", params={"archived": "true"}).text


def test_model_page_versions_and_alias_history(http: httpx.Client, data: Seeded) -> None:
    text = http.get("/models/churn").text
    versions = section(text, "versions")
    v2 = re.search(r'<tr data-version="2">(.*?)</tr>', versions, re.S)
    assert v2 and "approval-approved" in v2.group(1) and "by lead" in v2.group(1) and "champion" in v2.group(1)
    v3 = re.search(r'<tr data-version="3">(.*?)</tr>', versions, re.S)
    assert v3 and "approval-rejected" in v3.group(1) and "worse on slice A" in v3.group(1)
    assert f'href="/runs/{data.model_run}"' in versions  # lineage to the producing run
    assert 'value="approve"' in v3.group(1) and 'value="reject"' not in v3.group(1)
    aliases = section(text, "alias-table")
    assert re.search(r'data-alias="champion">.*?href="/models/churn/versions/2"', aliases, re.S)
    history = section(text, "alias-history")
    entries = re.findall(r'<li data-alias="([^"]+)">(.*?)</li>', history, re.S)
    assert [alias for alias, _ in entries] == ["challenger", "champion", "champion"]  # newest first
    texts = [flat(body) for _, body in entries]
    assert texts[0].endswith("bo set challenger → v3")
    assert texts[1].endswith("bo moved champion v1 → v2 “v2 wins the A/B”")
    assert texts[2].endswith("ana set champion → v1 “first model”")
    assert 'id="alias-form"' in text and '<option value="3">v3</option>' in text


def test_version_page(http: httpx.Client, data: Seeded) -> None:
    r = http.get("/models/churn/versions/2")
    assert r.status_code == 200
    text = r.text
    signature = section(text, "signature")
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", signature, re.S)]
    assert cells == [
        "input",
        "tenure",
        "float64",
        "",
        "input",
        "plan",
        "string",
        "",
        "output",
        "(unnamed)",
        "int64",
        "(-1)",
    ]
    assert re.search(r'id="requirements">\s*<li>scikit-learn==1\.5\.0</li><li>pandas==2\.2\.2</li>', text)
    assert f'<a id="run-link" href="/runs/{data.model_run}">beta</a>' in text
    metrics = section(text, "run-metrics")
    assert "acc" in metrics and "0.9" in metrics
    assert "churn-train" in section(text, "lineage") and "s3://data/churn.parquet" in text
    assert "scikit-learn 1.5.0" in text and "3.11.7" in text and "passed review" in text
    assert 'href="/models/churn/versions/2/files/model.pkl"' in text
    assert 'href="/models/churn/versions/2/files/treadle-model.yaml"' in text
    assert http.get("/models/churn/versions/v2").status_code == 200  # "v2" reads as 2


def test_version_without_signature_or_run(http: httpx.Client, client: Client) -> None:
    spec = client.blobs.put_bytes(b"flavor: python\n")
    from treadle.tracking import ArtifactIn

    client.registry.create_version(
        "uploaded", "s3://bucket/x", files=[ArtifactIn(path="treadle-model.yaml", digest=spec.digest, size=spec.size)]
    )
    text = http.get("/models/uploaded/versions/1").text
    assert (
        "No signature recorded" in text and "No requirements recorded" in text and "Not registered from a run" in text
    )


def test_version_file_download(http: httpx.Client) -> None:
    r = http.get("/models/churn/versions/1/files/model.pkl")
    assert r.status_code == 200 and r.content == b"\x80\x04weights"
    assert r.headers["content-disposition"].startswith('attachment; filename="model.pkl"')
    assert r.headers["content-security-policy"] == "sandbox" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-length"] == "9"
    assert "flavor: sklearn" in http.get("/models/churn/versions/1/files/treadle-model.yaml").text


def test_unknown_models_versions_and_files_get_friendly_404_pages(http: httpx.Client) -> None:
    for path in (
        "/models/nope",
        "/models/nope/versions/1",
        "/models/churn/versions/9",
        "/models/churn/versions/abc",
        "/models/churn/versions/0",
        "/models/churn/versions/99999999999999999999",  # beyond any integer column
        "/models/churn/versions/1/files/missing.bin",
        "/models/churn/versions/1/files/..%2F..%2Fetc%2Fpasswd",
        "/models/nope/versions/1/files/model.pkl",
    ):
        r = http.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert re.search("not found|no file|has no version", r.text, re.I), path
    assert 'href="/models"' in http.get("/models/nope").text  # back to the models list


def test_everything_is_escaped(http: httpx.Client, client: Client, data: Seeded) -> None:
    name = f"x-{uuid.uuid4().hex[:6]}"
    client.registry.create_model(name, description="<script>alert(1)</script>", owner="<b>me</b>")
    client.registry.create_version(name, log_model_files(client, data.model_run), description="<img src=x>")
    client.registry.set_alias(name, "champion", 1, actor="<i>eve</i>", reason="<svg onload=alert(1)>")
    for path in ("/models", f"/models/{name}", f"/models/{name}/versions/1"):
        text = http.get(path).text
        for raw in ("<script>alert", "<b>me</b>", "<img src=x", "<i>eve</i>", "<svg onload"):
            assert raw not in text, (path, raw)


# ---------------------------------------------------------------- form posts
def test_set_alias_through_the_form(http: httpx.Client, client: Client, fresh: str) -> None:
    r = post(
        http, f"/models/{fresh}/aliases", {"action": "set", "alias": "champion", "version": "1", "reason": "first"}
    )
    assert r.status_code == 200 and "<html" not in r.text  # the panel, for htmx to swap in
    assert 'id="flash"' in r.text and "champion now points at v1." in r.text
    assert re.search(r'id="alias-history">\s*<li data-alias="champion">', r.text)
    moved = post(http, f"/models/{fresh}/aliases", {"alias": "champion", "version": "2", "reason": "better"})
    assert "champion now points at v2." in moved.text
    history = client.registry.get_alias_history(fresh, "champion")
    assert [(h.from_version, h.to_version, h.actor, h.reason) for h in history] == [
        (None, 1, "ui", "first"),
        (1, 2, "ui", "better"),
    ]
    timeline = flat(section(moved.text, "alias-history"))
    assert timeline.index("ui moved champion v1 → v2 “better”") < timeline.index("ui set champion → v1 “first”")


def test_protect_and_delete_alias_through_the_form(http: httpx.Client, client: Client, fresh: str) -> None:
    client.registry.set_alias(fresh, "prod", 1)
    refused = post(http, f"/models/{fresh}/aliases", {"action": "protect", "alias": "prod"})
    assert 'id="form-error"' in refused.text and "approve it first" in refused.text
    client.registry.approve_version(fresh, 1)
    assert (
        "prod is now protected." in post(http, f"/models/{fresh}/aliases", {"action": "protect", "alias": "prod"}).text
    )
    blocked = post(http, f"/models/{fresh}/aliases", {"alias": "prod", "version": "2"})
    assert "is protected" in blocked.text and client.registry.get_version_by_alias(fresh, "prod").version == 1
    assert (
        "no longer protected" in post(http, f"/models/{fresh}/aliases", {"action": "unprotect", "alias": "prod"}).text
    )
    deleted = post(http, f"/models/{fresh}/aliases", {"action": "delete", "alias": "prod", "reason": "retired"})
    assert "Deleted alias prod." in deleted.text
    assert client.registry.get_alias_history(fresh, "prod")[-1].to_version is None


def test_approve_and_reject_through_the_form(http: httpx.Client, client: Client, fresh: str) -> None:
    r = post(http, f"/models/{fresh}/versions/1/approval", {"decision": "approve", "reason": "reviewed"})
    assert "v1 approved." in r.text
    row = re.search(r'<tr data-version="1">(.*?)</tr>', r.text, re.S)
    assert row and "approval-approved" in row.group(1) and "by ui" in row.group(1) and "reviewed" in row.group(1)
    v1 = client.registry.get_version(fresh, 1)
    assert (v1.approval, v1.approval_by, v1.approval_reason) == ("approved", "ui", "reviewed")
    assert "v2 rejected." in post(http, f"/models/{fresh}/versions/2/approval", {"decision": "reject"}).text
    assert client.registry.get_version(fresh, 2).approval == "rejected"


@pytest.mark.parametrize(
    ("path", "form", "message"),
    [
        ("aliases", {"alias": "Bad Alias", "version": "1"}, "invalid alias"),
        ("aliases", {"alias": "latest", "version": "1"}, "reserved"),
        ("aliases", {"alias": "champion", "version": "abc"}, "version must be a positive whole number"),
        ("aliases", {"alias": "champion", "version": "²"}, "version must be a positive whole number"),
        ("aliases", {"alias": "champion", "version": "99999999999"}, "version must be a positive whole number"),
        ("aliases", {"alias": "champion", "version": "9"}, "has no version 9"),
        ("aliases", {"alias": "champion"}, "choose a version"),
        ("aliases", {"alias": "", "version": "1"}, "enter an alias name"),
        ("aliases", {"alias": "champion", "action": "explode"}, "unknown alias action"),
        ("aliases", {"alias": "ghost", "action": "delete"}, "has no alias"),
        ("versions/1/approval", {"decision": "maybe"}, "decision must be approve or reject"),
        ("versions/9/approval", {"decision": "approve"}, "has no version 9"),
        ("versions/x/approval", {"decision": "approve"}, "version must be a positive whole number"),
    ],
)
def test_bad_form_input_is_shown_inline(
    http: httpx.Client, fresh: str, path: str, form: dict[str, str], message: str
) -> None:
    r = post(http, f"/models/{fresh}/{path}", form)
    assert r.status_code == 200, r.text
    error = re.search(r'id="form-error">(.*?)</div>', r.text, re.S)
    assert error and message in error.group(1).replace("&#39;", "'"), r.text[:500]
    plain = post(http, f"/models/{fresh}/{path}", form, htmx=False)  # without JavaScript: the page, status 400
    assert plain.status_code == 400 and "<html" in plain.text and message in plain.text.replace("&#39;", "'")


def test_plain_form_posts_redirect_back(http: httpx.Client, client: Client, fresh: str) -> None:
    r = post(http, f"/models/{fresh}/aliases", {"alias": "champion", "version": "2"}, htmx=False)
    assert r.status_code == 303 and r.headers["location"] == f"/models/{fresh}"
    assert client.registry.get_version_by_alias(fresh, "champion").version == 2


def test_posts_that_are_refused(http: httpx.Client, client: Client, fresh: str) -> None:
    cross = http.post(
        f"/models/{fresh}/aliases", data={"alias": "champion", "version": "1"}, headers={"Origin": "https://evil.test"}
    )
    assert cross.status_code == 403 and "Refused" in cross.text
    fetch_meta = http.post(
        f"/models/{fresh}/aliases", data={"alias": "champion", "version": "1"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetch_meta.status_code == 403
    assert client.registry.list_aliases(fresh) == []
    same = http.post(
        f"/models/{fresh}/aliases",
        data={"alias": "champion", "version": "1"},
        headers={"Origin": str(http.base_url).rstrip("/"), **HTMX},
    )
    assert same.status_code == 200 and "champion now points at v1." in same.text
    as_json = http.post(f"/models/{fresh}/aliases", json={"alias": "champion", "version": 2}, headers=HTMX)
    assert as_json.status_code == 200 and "send the form urlencoded" in as_json.text
    missing = post(http, "/models/nope/aliases", {"alias": "champion", "version": "1"})
    assert missing.status_code == 404 and "Model not found" in missing.text
