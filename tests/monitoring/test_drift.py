"""``drift()``: Evidently's default rules, overrides, FDR, dataset share, bad input, the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control

from treadle.errors import InvalidArgument
from treadle.monitoring import drift
from treadle.monitors import DriftConfig


def _frame(n: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "num": rng.normal(shift, 1, n),
            "few4": rng.integers(0, 4, n).astype(float),  # 4 distinct values
            "bin01": rng.integers(0, 2, n),  # 2 distinct values
            "cat3": rng.choice(["a", "b", "c"], n),
            "cat2": rng.choice(["yes", "no"], n),
        }
    )


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (1000, {"num": "ks", "few4": "chisquare", "bin01": "z", "cat3": "chisquare", "cat2": "z"}),
        (1001, {"num": "wasserstein", "few4": "jensenshannon", "bin01": "jensenshannon", "cat3": "jensenshannon"}),
    ],
)
def test_evidently_default_rules_by_reference_size_and_distinct_values(rows: int, expected: dict[str, str]) -> None:
    report = drift(_frame(rows, 1), _frame(500, 2))
    assert {c: report.columns[c].test for c in expected} == expected
    assert report.columns["cat2"].test == ("z" if rows <= 1000 else "jensenshannon")
    thresholds = {c: d.threshold for c, d in report.columns.items()}
    assert thresholds["num"] == (0.05 if rows <= 1000 else 0.1)


def test_distinct_values_are_counted_over_both_samples() -> None:
    # 5 distinct values in the reference, 2 more in the current: 7 > 5 -> ks (Evidently counts the union)
    ref = pd.DataFrame({"x": np.arange(500) % 5})
    cur = pd.DataFrame({"x": np.arange(500) % 7})
    assert drift(ref, cur).columns["x"].test == "ks"
    assert drift(ref, ref).columns["x"].test == "chisquare"


def test_per_column_tests_thresholds_and_config() -> None:
    ref, cur = _frame(2000, 3), _frame(2000, 4, shift=0.15)
    report = drift(ref, cur, tests={"num": "psi", "cat3": "chisquare"}, thresholds={"num": 0.5})
    assert report.columns["num"].test == "psi" and report.columns["num"].threshold == 0.5
    assert not report.columns["num"].drifted  # PSI of a 0.15 sd shift is far below 0.5
    assert report.columns["cat3"].test == "chisquare" and report.columns["cat3"].p_value is not None
    cfg = DriftConfig(default_numeric="ks", default_categorical="hellinger", tests={"few4": "psi"}, drift_share=0.2)
    by_config = drift(ref, cur, config=cfg)
    assert by_config.columns["num"].test == "ks" and by_config.columns["num"].drifted
    assert by_config.columns["cat2"].test == "hellinger" and by_config.columns["few4"].test == "psi"
    assert by_config.drift_share == 0.2 and by_config.dataset_drift  # 1 of 5 columns >= 0.2
    assert drift(ref, cur, config=cfg, drift_share=0.5).drift_share == 0.5  # explicit argument wins


def test_unknown_or_unfit_tests_are_refused() -> None:
    ref = _frame(100)
    with pytest.raises(InvalidArgument, match="unknown drift test 'kss'"):
        drift(ref, ref, tests={"num": "kss"})
    with pytest.raises(InvalidArgument, match="does not apply to categorical"):
        drift(ref, ref, tests={"cat3": "ks"})
    with pytest.raises(InvalidArgument, match="threshold of 'num'"):
        drift(ref, ref, thresholds={"num": -1})


def test_fdr_adjusts_the_p_values_with_benjamini_hochberg() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({f"c{i}": rng.normal(0, 1, 400) for i in range(10)})
    cur = pd.DataFrame({f"c{i}": rng.normal(0.2 if i < 2 else 0, 1, 400) for i in range(10)})
    raw = drift(ref, cur)
    fdr = drift(ref, cur, correction="fdr")
    p_raw = np.array([raw.columns[f"c{i}"].p_value for i in range(10)])
    want = false_discovery_control(p_raw, method="bh")
    got = np.array([fdr.columns[f"c{i}"].p_value for i in range(10)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert [fdr.columns[f"c{i}"].detail["p_value_raw"] for i in range(10)] == pytest.approx(p_raw.tolist())
    assert all(d.drifted == (d.p_value < 0.05) for d in fdr.columns.values())  # type: ignore[operator]
    assert len(fdr.drifted_columns) <= len(raw.drifted_columns)


def test_dataset_drift_is_the_share_of_drifted_columns() -> None:
    ref, cur = _frame(3000, 6), _frame(3000, 7)
    cur["num"] += 1.0
    cur["cat3"] = "a"
    report = drift(ref, cur)
    assert report.drifted_columns == ["num", "cat3"]
    assert report.share == pytest.approx(2 / 5)
    assert not report.dataset_drift
    assert drift(ref, cur, drift_share=0.4).dataset_drift


def test_prediction_is_tested_but_reported_apart() -> None:
    ref, cur = _frame(1500, 8), _frame(1500, 9)
    ref["pred"], cur["pred"] = ref["num"] > 0, cur["num"] > 1
    report = drift(ref, cur, prediction="pred")
    assert "pred" not in report.columns and report.prediction is not None
    assert report.prediction.column == "pred" and report.prediction.kind == "categorical"
    assert report.prediction.drifted and report.drifted_columns == []


def test_constant_all_missing_and_infinite_columns() -> None:
    ref = pd.DataFrame({"const": [3.0] * 300, "nan": [np.nan] * 300, "inf": np.r_[np.arange(290.0), [np.inf] * 10]})
    cur = pd.DataFrame(
        {"const": [3.0] * 200, "nan": np.arange(200.0), "inf": np.r_[np.arange(190.0), [-np.inf] * 5, [np.nan] * 5]}
    )
    report = drift(ref, cur)
    const, nan, inf = report.columns["const"], report.columns["nan"], report.columns["inf"]
    assert not const.drifted and const.note is not None and "constant" in const.note
    assert not nan.drifted and nan.statistic is None and nan.note is not None and "reference" in nan.note
    assert inf.statistic is not None and inf.detail["non_finite"] == [10, 5] and inf.detail["missing"] == [0, 5]
    assert report.share == (1 if inf.drifted else 0) / 2  # the no-verdict column is not counted
    moved = drift(ref[["const"]], pd.DataFrame({"const": [4.0] * 200}))
    assert moved.columns["const"].drifted and moved.columns["const"].note is None  # constant, but another value
    big = drift(pd.DataFrame({"c": [1.0] * 5000}), pd.DataFrame({"c": [1.0] * 5000}))
    assert big.columns["c"].statistic == 0.0 and not big.columns["c"].drifted


def test_bad_input_is_refused_with_clear_messages() -> None:
    ref = _frame(100)
    with pytest.raises(InvalidArgument, match=r"lacks columns \['num', 'cat2'\]"):
        drift(ref, ref.drop(columns=["cat2", "num"]))
    with pytest.raises(InvalidArgument, match="current data is empty"):
        drift(ref, ref.iloc[:0])
    with pytest.raises(InvalidArgument, match="not in the reference"):
        drift(ref, ref, columns=["num", "zzz"])
    with pytest.raises(InvalidArgument, match="must be a pandas DataFrame"):
        drift(ref, ref.to_dict())
    with pytest.raises(InvalidArgument, match="non-numeric values"):
        drift(ref, ref.assign(num="x"))
    with pytest.raises(InvalidArgument, match="executor"):
        drift(ref, ref, executor="processes")  # type: ignore[arg-type]
    noted = drift(ref, ref.assign(num="x"), errors="note")  # what a monitor run does: the others still tested
    assert noted.columns["num"].statistic is None and "non-numeric" in (noted.columns["num"].note or "")
    assert "num" not in noted.drifted_columns and noted.columns["cat2"].statistic is not None
    with pytest.raises(InvalidArgument, match="errors must be"):
        drift(ref, ref, errors="ignore")  # type: ignore[arg-type]
    assert list(drift(ref, ref.assign(extra=1), columns=["num"]).columns) == ["num"]


def test_threads_and_serial_agree_and_report_renders() -> None:
    ref, cur = _frame(5000, 10), _frame(4000, 11, shift=0.3)
    threaded, serial = drift(ref, cur), drift(ref, cur, executor=None)
    assert threaded.to_dict() == serial.to_dict()
    d = threaded.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["columns"]["num"]["detail"]["edges"][0] == min(ref["num"].min(), cur["num"].min())
    assert sum(d["columns"]["num"]["detail"]["reference"]) == pytest.approx(1, abs=1e-5)
    assert sorted(d["columns"]["cat3"]["detail"]["categories"]) == ["a", "b", "c"]
    page = threaded.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for column in ref.columns:
        assert f"<td>{column}" in page
    assert "drift</span>" in page and "1 of 5 columns drifted" in page


def test_unseen_category_gives_an_infinite_statistic_that_stays_json_able() -> None:
    ref = pd.DataFrame({"c": ["a", "b", "c"] * 100})
    cur = pd.DataFrame({"c": ["a", "b", "c", "new"] * 50})
    report = drift(ref, cur)
    assert report.columns["c"].p_value == 0.0 and report.columns["c"].drifted
    json.dumps(report.to_dict(), allow_nan=False)


@pytest.mark.slow
def test_ray_executor_gives_the_same_report() -> None:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'treadle[ray]'")
    ref, cur = _frame(3000, 12), _frame(3000, 13, shift=0.3)
    try:
        assert drift(ref, cur, executor="ray").to_dict() == drift(ref, cur, executor=None).to_dict()
    finally:
        ray.shutdown()  # the local cluster it started must not outlive the test (other suites start their own)


def test_html_report_escapes_column_names_and_categories() -> None:
    evil = "<script>alert(1)</script>"
    ref = pd.DataFrame({evil: ["<img src=x onerror=alert(1)>", "a"] * 50, "x": np.arange(100.0)})
    cur = pd.DataFrame({evil: ["<img src=x onerror=alert(1)>", "b"] * 50, "x": np.arange(100.0)})
    page = drift(ref, cur).to_html()
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page
