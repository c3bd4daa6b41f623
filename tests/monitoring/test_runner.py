"""The monitor runner end to end on the embedded store: a model trained on a dataset version and
deployed, its request log written by the real RequestLogger, windows cut, drift found on the
shifted window and not on the other, labels turned into real performance, CBPE estimates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

import treadle as td
from treadle.errors import InvalidArgument, NotFound
from treadle.monitoring._runner import LOG_GRACE_MS

from .runner_support import (
    DATASET,
    DEPLOYMENT,
    FEATURES,
    frame,
    now_ms,
    record,
    served_model,
    served_records,
    write_log,
)


def test_windows_drift_labels_and_estimates_end_to_end() -> None:
    model = served_model()
    mon = td.monitoring.create_monitor("churn-mon", DEPLOYMENT, target="label", window="200 rows", interval_s=1)
    assert mon.reference is not None and mon.reference.found_by == "lineage"
    assert (mon.reference.dataset, mon.reference.version, mon.reference.rows) == (DATASET, 1, 600)
    assert set(mon.reference.columns) == set(FEATURES) and mon.reference.prediction == "categorical"
    assert mon.spec.features == FEATURES and mon.spec.model == "models:/churn@champion"

    t0 = now_ms() + 10
    same, shifted = frame(200, seed=1), frame(200, seed=2, shift=1.5)
    records = served_records(model, same, t0, "a") + served_records(model, shifted, t0 + 1000, "b", proba=True)
    records += served_records(model, frame(50, seed=3), t0 + 2000, "c")  # an incomplete third window
    write_log(records)
    ids = [r.id for r in records[:100]]
    logged = td.monitoring.log_labels(ids, same["label"][:100].to_numpy())
    assert (logged.accepted, logged.unknown) == (100, [])

    reports = td.monitoring.run_monitor("churn-mon", now_ms=t0 + 3000 + LOG_GRACE_MS)
    assert [r.rows for r in reports] == [200, 200]
    first, second = reports
    assert first.drift_share is not None and first.drift_share <= 0.25 and not first.dataset_drift
    assert second.dataset_drift and {"f0", "f1"} <= {c.column for c in second.columns if c.drifted}
    assert second.prediction is not None and second.prediction.column == "prediction"
    # Real performance over the 100 labelled rows of the first window.
    assert first.labelled == 100 and second.labelled == 0 and second.performance is None
    expected = accuracy_score(same["label"][:100], model.predict(same[FEATURES][:100]))
    assert first.performance is not None and first.performance["accuracy"] == pytest.approx(expected)
    # CBPE: from logged probabilities (second) and from the model's own ones (first: predict only).
    for r in reports:
        assert r.estimated is not None and 0.5 < r.estimated["accuracy"] <= 1.0
    assert first.quality is not None and first.quality.missing_columns == [] and first.quality.rows == 200

    # The cursor moved: running again records nothing new until the third window fills up.
    assert td.monitoring.run_monitor("churn-mon", now_ms=t0 + 3000 + LOG_GRACE_MS) == []
    write_log(served_records(model, frame(150, seed=4), t0 + 4000, "d"))
    third = td.monitoring.run_monitor("churn-mon", now_ms=t0 + 5000 + LOG_GRACE_MS)
    assert [r.rows for r in third] == [200] and third[0].start_ms == t0 + 2000
    assert [w.rows for w in td.monitoring.windows("churn-mon")] == [200, 200, 200]
    assert td.monitoring.get_monitor("churn-mon").cursor_id == "d-00149"


def test_bad_traffic_is_reported_not_fatal() -> None:
    """Missing columns, NaN/inf, malformed rows, failed requests, unknown label ids."""
    model = served_model()
    td.monitoring.create_monitor("m", DEPLOYMENT, target="label", window={"kind": "count", "rows": 60})
    t0 = now_ms() + 10
    data = frame(60, seed=5)
    records = []
    for i in range(60):  # named 1-D tensors (as /invocations tables arrive) without f3
        row = data.iloc[i]
        inputs = {f: [row[f]] for f in FEATURES[:3]}
        if i < 6:
            inputs["f0"] = [np.nan if i % 2 else np.inf]
        inputs["f2"] = [np.nan]  # every value missing: reported, no verdict, no crash
        records.append(record(f"r{i:03d}", t0 + i, inputs, {"predict": [int(row["label"])]}))
    records.append(record("bad-shape", t0 + 70, {"input": [[1.0, 2.0]]}, {"predict": [0]}))
    records.append(record("failed", t0 + 71, {"input": [[1.0, 2.0, 3.0, 4.0]]}, None, status=400))
    records.append(record("bad-json", t0 + 72, {}, None))
    write_log(records)
    labels = td.monitoring.log_labels(["r000", "no-such-request"], [1, 0])
    assert (labels.accepted, labels.unknown) == (1, ["no-such-request"])
    with pytest.raises(InvalidArgument, match="none of the 1 request ids"):
        td.monitoring.log_labels(["no-such-request"], [1])

    [report] = td.monitoring.run_monitor("m", now_ms=t0 + 100 + LOG_GRACE_MS)
    assert report.rows == 60 and report.quality is not None
    assert report.quality.missing_columns == ["f3"] and "f3" in (report.note or "")
    assert report.quality.missing.get("f0") == pytest.approx(6 / 60)
    assert report.quality.missing.get("f2") == 1.0
    assert report.drift_share is not None and {c.column for c in report.columns} == {"f0", "f1", "f2"}
    assert not next(c for c in report.columns if c.column == "f2").drifted
    assert model is not None
    assert "3 request-log rows could not be decoded" not in (report.note or "")  # they come after the window


def test_empty_and_small_time_windows() -> None:
    served_model()
    mon = td.monitoring.create_monitor("t", DEPLOYMENT, window="10s")
    assert (mon.spec.window.kind, mon.spec.window.seconds) == ("time", 10)
    start = mon.created_at // 10_000 * 10_000
    write_log(
        [record(f"s{i}", start + 25_000 + i, {"input": [[0.1, 0.2, 0.3, 0.4]]}, {"predict": [1]}) for i in range(5)]
    )
    reports = td.monitoring.run_monitor("t", now_ms=start + 40_000 + LOG_GRACE_MS)
    # [start, start+20s) had no requests: one empty record; [20s, 30s) has 5 rows (< min_rows 30).
    assert [(r.start_ms - start, r.end_ms - start, r.rows) for r in reports] == [
        (0, 20_000, 0),
        (20_000, 30_000, 5),
        (30_000, 40_000, 0),
    ]
    assert all(r.drift_share is None for r in reports)
    assert "no requests" in (reports[0].note or "") and "min_rows" in (reports[1].note or "")


def test_constant_column_reference_given_as_frame() -> None:
    model = served_model()
    ref = frame(300, seed=7)
    ref["f3"] = 1.0
    mon = td.monitoring.create_monitor("c", DEPLOYMENT, reference=ref, target="label", window="100 rows")
    assert mon.reference is not None and mon.reference.found_by == "given" and mon.reference.dataset is None
    cur = frame(100, seed=8)
    cur["f3"] = 1.0
    write_log(served_records(model, cur, now_ms() + 10, "k"))
    [report] = td.monitoring.run_monitor("c", now_ms=now_ms() + 1000 + LOG_GRACE_MS)
    by = {c.column: c for c in report.columns}
    assert not by["f3"].drifted and report.rows == 100


def test_failures_are_recorded_and_run_due_never_raises() -> None:
    served_model()
    client = td.get_client()
    td.monitoring.create_monitor("ok", DEPLOYMENT, window="5 rows")
    broken = td.monitoring.create_monitor("broken", DEPLOYMENT, window="5 rows")
    assert broken.reference is not None
    client.monitors.set_reference("broken", broken.reference.model_copy(update={"profile_digest": "0" * 64}))
    assert td.monitoring.run_due(budget_s=0) == {}  # out of time: both stay due
    done = td.monitoring.run_due()
    assert done["ok"] == 0 and isinstance(done["broken"], str) and done["broken"]
    assert td.monitoring.get_monitor("broken").last_error
    with pytest.raises(td.errors.TreadleError):
        td.monitoring.run_monitor("broken")
    with pytest.raises(NotFound):
        td.monitoring.run_monitor("nobody")
    assert "AttributeError" in str(td.monitoring.run_due(client=object())["*"])  # not even a client: no raise


def test_scheduler_tick_runs_due_monitors(monkeypatch: pytest.MonkeyPatch) -> None:
    from treadle.pipelines._scheduler import Scheduler

    served_model()
    td.monitoring.create_monitor("sched", DEPLOYMENT, window="5 rows")
    scheduler = Scheduler()
    first = scheduler.tick()
    scheduler.stop()  # gives the lease up for the next one
    assert first.leader and first.monitored == {"sched": 0}
    # nothing to record yet, but the run is marked: the monitor is not due again before its interval
    assert td.monitoring.get_monitor("sched").last_run_at is not None
    assert "sched" not in td.get_client().monitors.due_monitors()
    monkeypatch.setenv("TREADLE_MONITORS", "false")
    off = Scheduler()
    tick = off.tick()
    off.stop()
    assert tick.leader and tick.monitored == {}


def test_categorical_features_keep_their_spelling() -> None:
    """Text and integer categories from JSON (where a missing value turns 1 into 1.0) match the
    reference's categories; a shifted category mix is drift, an unseen category is reported."""
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"plan": rng.choice(["basic", "pro"], 400, p=[0.7, 0.3]), "zone": rng.integers(1, 4, 400)})
    td.monitoring.create_monitor("cats", "shop", reference=ref, categorical=["zone"], window="100 rows")
    t0 = now_ms() + 10
    plans = rng.choice(["basic", "pro"], 100, p=[0.2, 0.8])
    zones = [None if i % 10 == 0 else int(z) for i, z in enumerate(rng.integers(1, 4, 100))]
    zones[1] = 7
    write_log(
        [
            record(f"q{i:03d}", t0 + i, {"plan": [plans[i]], "zone": [zones[i]]}, {"predict": [0]}, endpoint="shop")
            for i in range(100)
        ]
    )
    [report] = td.monitoring.run_monitor("cats", now_ms=t0 + 200 + LOG_GRACE_MS)
    by = {c.column: c for c in report.columns}
    assert by["plan"].drifted and by["plan"].kind == "categorical"
    assert by["zone"].kind == "categorical" and by["zone"].drifted  # an unseen category is drift
    assert sorted(str(c) for c in by["zone"].detail["categories"]) == ["1", "2", "3", "7"]  # not "1.0"
    assert report.quality is not None and report.quality.unseen_categories == {"zone": ["7"]}
    assert report.quality.missing["zone"] == pytest.approx(0.1)


def test_regression_monitor_with_a_run_model_and_labels() -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_absolute_error

    data = frame(300, seed=0)
    data["y"] = data["f0"] * 2.0 + data["f1"]
    with td.start_run():
        model = LinearRegression().fit(data[FEATURES], data["y"])
        uri = td.log_model(model, "model", input_example=data[FEATURES].head(2), requirements=["scikit-learn"])
    reference = data.drop(columns="label")
    mon = td.monitoring.create_monitor(
        "reg", "pricing", model=uri, reference=reference, target="y", task="regression", window="100 rows"
    )
    assert mon.reference is not None and mon.reference.prediction == "numeric"
    current = frame(120, seed=9)
    pred = model.predict(current[FEATURES])
    t0 = now_ms() + 10
    rows = current[FEATURES].to_numpy()
    write_log(
        [
            record(f"p{i}", t0 + i, {"x": rows[i : i + 1]}, {"predict": pred[i : i + 1]}, endpoint="pricing")
            for i in range(120)
        ]
    )
    truth = (current["f0"] * 2.0 + current["f1"] + 0.5).to_numpy()
    td.monitoring.log_labels([f"p{i}" for i in range(120)], truth, endpoint="pricing")
    [report] = td.monitoring.run_monitor("reg", now_ms=t0 + 500 + LOG_GRACE_MS)
    assert report.rows == 100 and report.labelled == 100
    assert report.performance is not None and report.estimated is None
    assert report.performance["mae"] == pytest.approx(mean_absolute_error(truth[:100], pred[:100]))
    assert report.prediction is not None and report.prediction.kind == "numeric"


def test_monitoring_a_subset_of_the_model_inputs() -> None:
    """2-D request tensors list every model input (signature order): the monitored subset is
    taken by name from them, not by position."""
    model = served_model()
    mon = td.monitoring.create_monitor("subset", DEPLOYMENT, target="label", features=["f3", "f1"], window="150 rows")
    assert mon.spec.features == ["f3", "f1"] and mon.reference is not None and mon.reference.prediction is not None
    write_log(served_records(model, frame(150, seed=21, shift=2.0), now_ms() + 10, "s"))
    [report] = td.monitoring.run_monitor("subset", now_ms=now_ms() + 1000 + LOG_GRACE_MS)
    assert {c.column: c.drifted for c in report.columns} == {"f1": True, "f3": False}
    assert report.quality is not None and report.quality.extra_columns == [] and report.estimated is not None


def test_text_in_a_numeric_column_does_not_stop_the_monitor() -> None:
    """Strings where the reference has numbers are missing values for the drift test and type errors
    for data quality; the window is recorded and the cursor moves (no window stuck failing forever)."""
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=300), "plan": rng.choice(["a", "b"], 300)})
    td.monitoring.create_monitor("typed", "shop", reference=ref, window="50 rows")
    t0 = now_ms() + 10
    xs: list[object] = [float(v) for v in rng.normal(size=50)]
    xs[3] = "n/a"
    write_log(
        [
            record(f"t{i:03d}", t0 + i, {"x": [xs[i]], "plan": ["a"]}, {"predict": [0]}, endpoint="shop")
            for i in range(50)
        ]
    )
    [report] = td.monitoring.run_monitor("typed", now_ms=t0 + 100 + LOG_GRACE_MS)
    by = {c.column: c for c in report.columns}
    assert by["x"].statistic is not None and by["x"].detail["missing"] == [0, 1]
    assert report.quality is not None and "x" in report.quality.type_errors
    assert td.monitoring.get_monitor("typed").last_error is None


def test_ad_hoc_drift_matches_integer_categories_turned_float_by_a_missing_value() -> None:
    ref = pd.DataFrame({"zone": np.tile([1, 2, 3], 100)})
    cur = pd.DataFrame({"zone": [1.0, 2.0, 3.0] * 30 + [np.nan]})
    report = td.monitoring.drift(ref, cur, categorical=["zone"])
    assert not report.columns["zone"].drifted and sorted(report.columns["zone"].detail["categories"]) == ["1", "2", "3"]


def test_traffic_that_never_decodes_is_reported_on_the_monitor() -> None:
    """Count windows of requests none of which decodes into the features would never fill up: the
    run fails with the reasons (shown on the monitor) instead of waiting silently."""
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=100), "y": rng.normal(size=100)})
    td.monitoring.create_monitor("shapes", "shop", reference=ref, window="20 rows")
    t0 = now_ms() + 10
    bad = [
        record(f"s{i:03d}", t0 + i, {"input": [[1.0, 2.0, 3.0]]}, {"predict": [0]}, endpoint="shop") for i in range(30)
    ]
    write_log(bad)  # three values a row for two features
    with pytest.raises(InvalidArgument, match="could not be decoded"):
        td.monitoring.run_monitor("shapes", now_ms=t0 + 100 + LOG_GRACE_MS)
    assert "could not be decoded" in (td.monitoring.get_monitor("shapes").last_error or "")


def test_a_monitor_attached_to_a_model_version_served_without_a_deployment() -> None:
    """``treadle serve models:/churn/1 --log-requests`` logs under the endpoint name ``churn``: with
    ``model=`` the monitor needs no rollout deployment; lineage still finds the training data."""
    model = served_model()
    mon = td.monitoring.create_monitor("by-version", "churn", model="models:/churn/1", window="100 rows")
    assert mon.reference is not None and mon.reference.found_by == "lineage" and mon.reference.dataset == DATASET
    t0 = now_ms() + 10
    records = served_records(model, frame(100, seed=5, shift=2.0), t0, "v")
    write_log([dataclasses.replace(r, endpoint="churn") for r in records])
    [window] = td.monitoring.run_monitor("by-version", now_ms=t0 + 1000 + LOG_GRACE_MS)
    assert window.rows == 100 and window.dataset_drift
