"""The gate: value and change thresholds, direction by metric, per slice, without a baseline."""

from __future__ import annotations

import pytest

from treadle.errors import InvalidArgument
from treadle.evaluation import SliceMetrics, Threshold
from treadle.evaluation._gate import compare, gate, parse_threshold_expr, parse_thresholds

SLICES = {
    "region=eu": SliceMetrics("region=eu", 300, {"accuracy": 0.9, "rmse": 1.0}, True, {"accuracy": 0.85, "rmse": 1.2}),
    "region=apac": SliceMetrics(
        "region=apac", 120, {"accuracy": 0.6, "rmse": 2.0}, True, {"accuracy": 0.7, "rmse": 1.8}
    ),
    "region=mars": SliceMetrics(
        "region=mars", 4, {"accuracy": 0.0, "rmse": 9.0}, False, {"accuracy": 1.0, "rmse": 0.1}
    ),
}
METRICS = {"accuracy": 0.82, "rmse": 1.5}
BASE = {"accuracy": 0.80, "rmse": 1.4}


def _gate(thresholds: dict, baseline: dict | None = BASE):  # type: ignore[no-untyped-def,type-arg]
    return gate(parse_thresholds(thresholds), METRICS, SLICES, baseline, model="m", baseline_model="b")


def test_value_thresholds_pass_and_fail() -> None:
    assert _gate({"accuracy": {"lower": 0.8}, "rmse": {"upper": 2.0}}).passed
    failed = _gate({"accuracy": {"lower": 0.9}})
    assert not failed.passed
    (check,) = failed.checks
    assert (check.metric, check.slice, check.kind, check.bound, check.passed) == (
        "accuracy",
        "overall",
        "lower",
        0.9,
        False,
    )
    assert "accuracy 0.82 < lower bound 0.9" in failed.reasons[0]


def test_change_direction_comes_from_the_metric() -> None:
    # accuracy went up by 0.02 (better), rmse went up by 0.1 (worse)
    assert _gate({"accuracy": {"min_change": 0.0}}).passed
    assert _gate({"accuracy": {"min_change": 0.03}}).passed is False
    worse = _gate({"rmse": {"min_change": 0.0}})
    assert not worse.passed and worse.checks[0].value == pytest.approx(-0.1)
    assert _gate({"rmse": {"min_change": -0.15}}).passed  # "at most 0.15 worse"
    rel = _gate({"rmse": {"min_relative_change": -0.05}})  # -0.1/1.4 = -7% < -5%
    assert not rel.passed and rel.checks[0].kind == "min_relative_change"
    assert _gate({"accuracy": {"min_relative_change": 0.02}}).passed  # +2.5%


def test_slices_all_gates_every_big_slice_and_skips_small_ones() -> None:
    blessing = _gate({"accuracy": {"lower": 0.5, "min_change": 0.0, "slices": "all"}})
    assert not blessing.passed  # apac dropped from 0.7 to 0.6
    failed = [c for c in blessing.checks if not c.passed]
    assert [(c.slice, c.kind) for c in failed] == [("region=apac", "min_change")]
    assert not any(c.slice == "region=mars" for c in blessing.checks)
    assert any("region=mars has 4 rows" in r for r in blessing.reasons)


def test_slices_by_label_and_unknown_label() -> None:
    only_eu = _gate({"accuracy": {"min_change": 0.0, "slices": ["region=eu"]}})
    assert only_eu.passed and [c.slice for c in only_eu.checks] == ["region=eu"]
    with pytest.raises(InvalidArgument, match="region=moon"):
        _gate({"accuracy": {"lower": 0.1, "slices": ["region=moon"]}})


def test_no_baseline_skips_change_thresholds_and_says_so() -> None:
    blessing = _gate({"accuracy": {"lower": 0.8, "min_change": 0.5}}, baseline=None)
    assert blessing.passed
    assert [c.kind for c in blessing.checks] == ["lower"]
    assert "no baseline" in blessing.reasons[0]


def test_bad_thresholds() -> None:
    with pytest.raises(InvalidArgument, match="needs lower"):
        Threshold()
    with pytest.raises(InvalidArgument, match="unknown threshold keys"):
        Threshold.parse({"minimum": 0.5})
    with pytest.raises(InvalidArgument, match="does not compute"):
        _gate({"ndcg@10": {"lower": 0.5}})
    with pytest.raises(InvalidArgument, match="slices"):
        Threshold(lower=0.1, slices="some")  # type: ignore[arg-type]


def test_compare_and_threshold_expressions() -> None:
    cmp = compare(METRICS, BASE)
    assert cmp["accuracy"]["change"] == pytest.approx(0.02)
    assert cmp["accuracy"]["relative_change"] == pytest.approx(0.025)
    assert parse_threshold_expr("accuracy>=0.8") == ("accuracy", {"lower": 0.8})
    assert parse_threshold_expr("rmse <= 3") == ("rmse", {"upper": 3.0})
    assert parse_threshold_expr("f1:change>=0") == ("f1", {"min_change": 0.0})
    assert parse_threshold_expr("f1:relative_change>=-0.01") == ("f1", {"min_relative_change": -0.01})
    for bad in ("accuracy", "accuracy>=high", "f1:change<=0", "f1:delta>=0"):
        with pytest.raises(InvalidArgument):
            parse_threshold_expr(bad)


def test_slices_by_column_tuple_and_query() -> None:
    import numpy as np
    import pandas as pd

    from treadle.evaluation._slices import make_slices, slice_key

    frame = pd.DataFrame({"region": ["eu", "eu", "us", None], "tier": [1.0, 2.0, 1.0, 1.0], "age": [20, 40, 60, 30]})
    got = {s.label: s.rows.tolist() for s in make_slices(frame, ["region", ("region", "tier"), {"young": "age < 35"}])}
    assert got["region=eu"] == [0, 1] and got["region=null"] == [3]
    assert got["region=eu, tier=2"] == [1] and got["region=us, tier=1"] == [2]
    assert got["young"] == [0, 3]
    assert slice_key("region=eu, tier=2") == "region:eu/tier:2" and slice_key("city=São Paulo/x") == "city:São Paulo_x"
    with pytest.raises(InvalidArgument, match="bad query"):
        make_slices(frame, [{"bad": "age <"}])
    with pytest.raises(InvalidArgument, match="not a condition"):
        make_slices(frame, [{"older": "age + 1"}])  # numbers, not a mask: would pick rows by label
    with pytest.raises(InvalidArgument, match="named twice"):
        make_slices(frame, ["region", "region"])
    with pytest.raises(InvalidArgument, match="column name"):
        make_slices(frame, [3])  # type: ignore[list-item]
    assert np.array_equal(make_slices(frame, "tier")[0].rows, [0, 2, 3])
