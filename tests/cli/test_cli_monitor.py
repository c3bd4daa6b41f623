"""``treadle monitor``: create a monitor of a real deployment, run it over a real request log, read
it back (tables and JSON), log labels from a CSV, pause, resume and delete — and bad input answered
with one error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import Invoke, Ok, assert_user_error
from tests.monitoring.runner_support import DEPLOYMENT, frame, now_ms, served_model, served_records, write_log
from treadle.cli._monitor import parse_alert
from treadle.monitoring._runner import LOG_GRACE_MS


@pytest.mark.slow
def test_create_run_show_labels_and_delete(ok: Ok, cli: Invoke, tmp_path: Path) -> None:
    model = served_model()
    created = ok(
        "monitor", "create", "churn-mon", "--deployment", DEPLOYMENT, "--target", "label",
        "--window-rows", "100", "--alert", "drift_share>0.3", "--alert", "acc: performance.accuracy < 0.5",
    )  # fmt: skip
    assert "Created monitor churn-mon of deployment churn against churn-train v1" in created
    given = ok(
        "monitor", "create", "by-time", "-d", DEPLOYMENT, "--reference", "churn-train@1", "--window-seconds", "60"
    )
    assert "against churn-train v1" in given
    assert json.loads(ok("monitor", "show", "by-time", "--json"))["reference"]["found_by"] == "given"
    ok("monitor", "delete", "by-time", "--yes")
    t0 = now_ms() + 10
    records = served_records(model, frame(100, seed=1), t0, "a") + served_records(
        model, frame(100, seed=2, shift=2.0), t0 + 1000, "b"
    )
    write_log(records)
    ran = ok("monitor", "run", "churn-mon", "--as-of", str(t0 + 2000 + LOG_GRACE_MS))
    assert "recorded 2 windows" in ran and "fired drift_share" in ran
    assert "No complete window" in ok("monitor", "run", "churn-mon", "--as-of", str(t0 + 2000 + LOG_GRACE_MS))

    listed = ok("monitor", "list")
    assert "churn-mon" in listed and "100 rows" in listed and "drift_share" in listed
    shown = ok("monitor", "show", "churn-mon")
    assert "churn-train v1, 600 rows, 4 columns (found by lineage)" in shown and "firing" in shown
    body = json.loads(ok("monitor", "show", "churn-mon", "--json"))
    assert [w["rows"] for w in body["windows"]] == [100, 100]
    assert {a["rule"]: a["state"] for a in body["alerts"]} == {"drift_share": "firing", "acc": "ok"}
    assert json.loads(ok("monitor", "list", "--json"))[0]["firing"] == ["drift_share"]

    labels = tmp_path / "labels.csv"
    rows = [f"{r.id},{i % 2}" for i, r in enumerate(records[:30])]
    labels.write_text("request_id,label\n" + "\n".join([*rows, "ghost,1"]) + "\n")
    logged = ok("monitor", "labels", "--file", str(labels), "--endpoint", DEPLOYMENT)
    assert "Logged 30 labels (0 replaced earlier ones)" in logged and "1 request id not in any request log" in logged
    assert "ghost" in logged
    assert "(30 replaced" in ok("monitor", "labels", "--file", str(labels))

    assert "Disabled monitor churn-mon" in ok("monitor", "disable", "churn-mon")
    assert json.loads(ok("monitor", "show", "churn-mon", "--json"))["spec"]["enabled"] is False
    assert "Enabled monitor churn-mon" in ok("monitor", "enable", "churn-mon")
    assert "Deleted monitor churn-mon" in ok("monitor", "delete", "churn-mon", "--yes")
    assert "No monitors yet" in ok("monitor", "list")


def test_bad_input_is_one_error_line(cli: Invoke, ok: Ok, tmp_path: Path) -> None:
    assert_user_error(cli("monitor", "show", "nope"), "monitor 'nope' does not exist")
    assert_user_error(cli("monitor", "run", "nope"), "monitor 'nope' does not exist")
    assert_user_error(cli("monitor", "enable", "nope"), "'nope'")
    assert_user_error(cli("monitor", "delete", "nope", "--yes"), "'nope'")
    assert_user_error(
        cli("monitor", "create", "m", "--deployment", "d", "--alert", "drift_share ~ 3"), "alert 'drift_share ~ 3'"
    )
    assert_user_error(
        cli("monitor", "create", "m", "--deployment", "d", "--window-rows", "5", "--window-seconds", "5"), "not both"
    )
    assert_user_error(
        cli("monitor", "create", "m", "--deployment", "d", "--alert", "drift_share>0.3 for 0"), "for_windows"
    )
    for flag in ("--window-rows", "--window-seconds", "--min-rows"):
        assert_user_error(cli("monitor", "create", "m", "--deployment", "d", flag, "0"), "bad window")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,y\nr1,1\n")
    assert_user_error(cli("monitor", "labels", "--file", str(bad)), "request_id and label columns")
    bad.write_text("request_id,label\nr1,\n")
    assert_user_error(cli("monitor", "labels", "--file", str(bad)), "line 2")
    bad.write_text("request_id,label\nr1,1\n")
    assert_user_error(cli("monitor", "labels", "--file", str(bad)), "none of the 1 request ids")
    assert_user_error(cli("monitor", "labels", "--file", str(tmp_path / "missing.csv")), "cannot read")
    assert "No monitors yet" in ok("monitor", "list")


def test_alert_shorthand() -> None:
    rule = parse_alert("acc: performance.accuracy < 0.8 for 2 clear 3")
    assert (rule.name, rule.metric, rule.op, rule.threshold, rule.for_windows, rule.clear_windows) == (
        "acc",
        "performance.accuracy",
        "<",
        0.8,
        2,
        3,
    )
    plain = parse_alert("drift_share>=0.3")
    assert (plain.name, plain.metric, plain.op, plain.threshold, plain.for_windows) == (
        "drift_share",
        "drift_share",
        ">=",
        0.3,
        1,
    )
