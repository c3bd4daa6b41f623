"""A lineage-found reference follows a promotion: once @champion names a version trained on other
data, the next run profiles that data (with that model) and the shifted traffic the new model was
trained on stops being drift. Given references stay; a version without findable training data keeps
the old reference and the run goes on, saying so."""

from __future__ import annotations

import warnings

import pandas as pd
from sklearn.linear_model import LogisticRegression

import treadle as td
from treadle.monitoring._runner import LOG_GRACE_MS
from treadle.monitors import Monitor

from .runner_support import DATASET, DEPLOYMENT, FEATURES, MODEL, frame, now_ms, served_model, served_records, write_log

SHIFT = 1.5


def _retrained(data: pd.DataFrame, *, lineage: bool) -> LogisticRegression:
    """A new version of MODEL fitted on ``data`` (a new dataset version read by the run when
    ``lineage``), then made the champion — as the closed loop's promotion does."""
    if lineage:
        td.datasets.create(DATASET, data)
    with td.start_run():
        if lineage:
            td.log_input(td.datasets.get(DATASET))
        model = LogisticRegression().fit(data[FEATURES], data["label"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uri = td.log_model(model, "model", input_example=data[FEATURES].head(3), requirements=["scikit-learn"])
    td.set_alias(MODEL, "champion", td.register_model(uri, MODEL).version)
    return model


def _reference(name: str) -> tuple[str | None, int | None, str | None, str]:
    ref = td.monitoring.get_monitor(name).reference
    assert ref is not None
    return ref.dataset, ref.version, ref.model_version, ref.profile_digest


def _traffic(model: LogisticRegression, t0: int, prefix: str, seed: int, shift: float = SHIFT) -> None:
    write_log(served_records(model, frame(200, seed=seed, shift=shift), t0, prefix))


def _run(name: str, t: int) -> list[td.monitors.WindowReport]:
    return td.monitoring.run_monitor(name, now_ms=t + LOG_GRACE_MS)


def test_promotion_reprofiles_a_lineage_reference() -> None:
    model = served_model()
    mon = td.monitoring.create_monitor("m", DEPLOYMENT, target="label", window="200 rows")
    assert mon.reference is not None and mon.reference.model_version == f"models:/{MODEL}/1"
    t0 = now_ms() + 10
    _traffic(model, t0, "a", seed=1)
    [before] = _run("m", t0 + 1000)
    assert before.dataset_drift and before.note is None  # the old champion's data: drift

    new = _retrained(frame(600, seed=9, shift=SHIFT), lineage=True)
    assert _run("m", t0 + 1000) == []  # no new window yet, but the reference follows the alias
    assert _reference("m")[:3] == (DATASET, 2, f"models:/{MODEL}/2")
    monitor: Monitor = td.monitoring.get_monitor("m")
    assert monitor.spec.model == f"models:/{MODEL}@champion" and monitor.last_error is None

    _traffic(new, t0 + 2000, "b", seed=2)
    [after] = _run("m", t0 + 3000)
    assert not after.dataset_drift and after.drift_share is not None and after.drift_share <= 0.25
    assert after.note == f"reference re-profiled for models:/{MODEL}/2 (datasets:/{DATASET}/2)"
    assert after.prediction is not None and after.estimated is not None  # profiled with the new model
    _traffic(new, t0 + 4000, "c", seed=3)
    [later] = _run("m", t0 + 5000)
    assert later.note is None and not later.dataset_drift  # said once
    digest = _reference("m")[3]
    assert _run("m", t0 + 5000) == [] and _reference("m")[3] == digest  # same version: not profiled again
    windows = td.monitoring.windows("m")  # the window recorded before the switch stays as it was
    assert [w.dataset_drift for w in windows] == [True, False, False]


def test_given_reference_is_kept() -> None:
    served_model()
    mon = td.monitoring.create_monitor("g", DEPLOYMENT, reference=f"{DATASET}@1", target="label", window="200 rows")
    assert mon.reference is not None and mon.reference.found_by == "given"
    before = _reference("g")
    new = _retrained(frame(600, seed=9, shift=SHIFT), lineage=True)
    t0 = now_ms() + 10
    _traffic(new, t0, "a", seed=1)
    [report] = _run("g", t0 + 1000)
    assert _reference("g") == before and report.dataset_drift and report.note is None


def test_version_without_training_data_keeps_the_reference() -> None:
    served_model()
    td.monitoring.create_monitor("k", DEPLOYMENT, target="label", window="200 rows")
    before = _reference("k")
    new = _retrained(frame(600, seed=9, shift=SHIFT), lineage=False)  # the run read no dataset version
    t0 = now_ms() + 10
    _traffic(new, t0, "a", seed=1, shift=0.0)
    [report] = _run("k", t0 + 1000)
    assert _reference("k") == before and not report.dataset_drift
    assert report.note is not None and report.note.startswith(f"reference kept (built for models:/{MODEL}/1)")
    assert "no training data" in report.note and td.monitoring.get_monitor("k").last_error is None
