"""Evaluation plots: every SVG parses and has its marks; the curve math equals scikit-learn's."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from treadle.errors import InvalidArgument
from treadle.evaluation._curves import calibration_points, downsample, pr_points, roc_points
from treadle.evaluation._plots import line_chart_svg, plots

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("viewBox", "").startswith("0 0 ")
    assert "<script" not in svg and " on" not in svg.split(">", 1)[0]
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def curves(root: ET.Element, cls: str = "curve") -> list[np.ndarray]:
    out = []
    for pl in root.iter(f"{NS}polyline"):
        if pl.get("class") == cls:
            pts = [tuple(map(float, p.split(","))) for p in pl.get("points", "").split()]
            out.append(np.asarray(pts))
    return out


@pytest.fixture(scope="module")
def binary() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 4_000)
    score = np.round(np.clip(0.35 * y + rng.random(y.size) * 0.65, 0, 1), 3)  # rounded: many ties
    return y, score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_and_pr_points_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 2_000)
    score = np.round(rng.random(y.size) * 0.7 + 0.3 * y, 2 + seed)
    fpr, tpr, thr = roc_points(y == 1, score)
    s_fpr, s_tpr, s_thr = roc_curve(y, score)
    np.testing.assert_allclose(fpr, s_fpr)
    np.testing.assert_allclose(tpr, s_tpr)
    np.testing.assert_allclose(thr, s_thr)
    precision, recall, pthr = pr_points(y == 1, score)
    s_p, s_r, s_pt = precision_recall_curve(y, score)
    np.testing.assert_allclose(precision, s_p)
    np.testing.assert_allclose(recall, s_r)
    np.testing.assert_allclose(pthr, s_pt)
    prob_true, prob_pred, _ = calibration_points(y == 1, score)
    s_true, s_pred = calibration_curve(y, score, n_bins=10)
    np.testing.assert_allclose(prob_true, s_true)
    np.testing.assert_allclose(prob_pred, s_pred)


def test_binary_classification_plots(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, score = binary
    labels = np.where(y == 1, "spam", "ham")
    pred = np.where(score > 0.5, "spam", "ham")
    out = plots("classification", labels, pred, proba=score, classes=["ham", "spam"])
    assert set(out) == {"roc", "pr", "confusion_matrix", "calibration"}
    roc = parse(out["roc"])
    (curve,) = curves(roc)
    assert len(curve) <= 500
    legend = " ".join(texts(roc))
    assert f"AUC = {roc_auc_score(y, score):.3f}" in legend
    assert "positive class: spam" in legend
    # The drawn points are sklearn's ROC points mapped to pixels: map back and compare.
    fpr, tpr, _ = roc_curve(y, score)
    x0, x1 = curve[:, 0].min(), curve[:, 0].max()
    y0, y1 = curve[:, 1].max(), curve[:, 1].min()
    back = np.column_stack([(curve[:, 0] - x0) / (x1 - x0), (y0 - curve[:, 1]) / (y0 - y1)])
    sk = np.column_stack([fpr, tpr])
    nearest = np.abs(back[:, None, :] - sk[None, :, :]).max(axis=2).min(axis=1)
    assert nearest.max() < 0.002  # every drawn point is one of sklearn's (a subset when > 500)
    assert np.allclose(back[0], [0, 0]) and np.allclose(back[-1], [1, 1])
    pr = parse(out["pr"])
    assert len(curves(pr)) == 1
    assert f"AP = {average_precision_score(y, score):.3f}" in " ".join(texts(pr))
    cm = parse(out["confusion_matrix"])
    words = texts(cm)
    assert {"ham", "spam", "Predicted", "Actual"} <= set(words)
    counts = sorted(int(t) for t in words if t.isdigit())
    tn_fp_fn_tp = [int(((labels == a) & (pred == b)).sum()) for a in ("ham", "spam") for b in ("ham", "spam")]
    assert counts == sorted(tn_fp_fn_tp)
    cal = parse(out["calibration"])
    assert len(curves(cal)) == 1 and len(curves(cal, "guide")) == 1  # the model and the diagonal
    assert len(list(cal.iter(f"{NS}circle"))) == 10  # one marker per (non-empty) bin


def test_multiclass_one_curve_per_class() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 3_000)
    p = rng.dirichlet([1, 1, 1], y.size)
    p[np.arange(y.size), y] += 0.6
    p /= p.sum(axis=1, keepdims=True)
    out = plots("classification", y, p.argmax(axis=1), proba=p, classes=[0, 1, 2])
    roc = parse(out["roc"])
    assert len(curves(roc)) == 3
    legend = " ".join(texts(roc))
    for k in range(3):
        assert f"{k}: AUC = {roc_auc_score(y == k, p[:, k]):.3f}" in legend
    assert len(curves(parse(out["pr"]))) == 3
    assert len(curves(parse(out["calibration"]))) == 3
    cells = [g for g in parse(out["confusion_matrix"]).iter(f"{NS}g") if g.get("class") == "cell"]
    assert len(cells) == 9


def test_labels_are_escaped_and_classes_inferred() -> None:
    y = np.array(["<a&b>", "x", "x", "<a&b>", "x"])
    out = plots("classification", y, y[::-1])
    assert set(out) == {"confusion_matrix"}  # no proba: no curves
    assert "<a&b>" in texts(parse(out["confusion_matrix"]))


def test_bad_classification_input() -> None:
    with pytest.raises(InvalidArgument, match="3 columns but there are 2 classes"):
        plots("classification", [0, 1], [0, 1], proba=np.full((2, 3), 1 / 3))
    with pytest.raises(InvalidArgument, match="unknown task"):
        plots("clustering", [0], [0])
    with pytest.raises(InvalidArgument, match="y_pred has 1"):
        plots("classification", [0, 1], [0])


def test_single_class_roc_says_why() -> None:
    out = plots("classification", [1, 1, 1], [1, 1, 0], proba=[0.9, 0.8, 0.2], classes=[0, 1])
    assert "ROC needs both classes" in " ".join(texts(parse(out["roc"])))


def test_regression_plots_subsample_deterministically() -> None:
    rng = np.random.default_rng(0)
    actual = rng.normal(size=50_000)
    predicted = actual + rng.normal(scale=0.3, size=actual.size)
    predicted[:10] = np.nan  # skipped, not drawn
    out = plots("regression", actual, predicted)
    assert set(out) == {"residuals", "predicted_vs_actual"}
    res = parse(out["residuals"])
    (dots,) = [p for p in res.iter(f"{NS}path") if p.get("class") == "points"]
    assert dots.get("d", "").count("M") == 2_000
    assert "2,000 of 49,990 points" in " ".join(texts(res))
    assert len(curves(res, "guide")) == 1  # the zero line
    assert out == plots("regression", actual, predicted)  # same points every time
    pva = parse(out["predicted_vs_actual"])
    assert len(curves(pva, "guide")) == 1  # the diagonal
    small = plots("regression", [1.0, 2.0, 3.0], [1.1, 1.9, 3.2])
    (d,) = [p for p in parse(small["residuals"]).iter(f"{NS}path") if p.get("class") == "points"]
    assert d.get("d", "").count("M") == 3


def test_metric_by_slice() -> None:
    sm = {"region=eu": {"accuracy": 0.91, "r2": 0.4}, "region=us": {"accuracy": 0.8, "r2": -0.2}, "x": {}}
    out = plots("regression", [1.0, 2.0], [1.0, 2.5], slice_metrics=sm)
    root = parse(out["metric_by_slice"])
    words = texts(root)
    assert {"accuracy", "r2", "region=eu", "region=us", "0.91", "-0.2", "n/a"} <= set(words)
    bars = [r for r in root.iter(f"{NS}rect") if r.get("class") == "bar"]
    assert len(bars) == 4
    widths = {float(b.get("width", 0)) for b in bars}
    assert len(widths) == 4  # bar length follows the value


def test_line_chart_two_series() -> None:
    svg = line_chart_svg(
        {"accuracy": [(1, 0.8), (2, 0.85), (3, 0.83)], "f1 <macro>": [(1, 0.7), (3, 0.79)]},
        x_label="model version",
        y_label="metric",
        title="History & more",
        x_ticks=[(1, "v1"), (2, "v2"), (3, "v3")],
    )
    root = parse(svg)
    series = curves(root, "series")
    assert [len(s) for s in series] == [3, 2]
    assert len(list(root.iter(f"{NS}circle"))) == 5
    words = texts(root)
    assert {"v1", "v2", "v3", "accuracy", "f1 <macro>", "History & more", "model version"} <= set(words)
    # Higher values are drawn higher (smaller y in SVG).
    acc = series[0]
    assert acc[1, 1] < acc[0, 1]
    empty = parse(line_chart_svg({}, x_label="x", y_label="y", title="t"))
    assert "no data yet" in texts(empty)


def test_downsample_keeps_ends_and_shape() -> None:
    x = np.linspace(0, 1, 100_000)
    y = np.sqrt(x)
    keep = downsample(x, y, 500)
    assert len(keep) <= 500 and keep[0] == 0 and keep[-1] == x.size - 1
    assert np.max(np.abs(np.interp(x, x[keep], y[keep]) - y)) < 0.01


def test_fast_on_100k_rows() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100_000)
    score = np.clip(0.3 * y + rng.random(y.size) * 0.7, 0, 1)
    plots("classification", y, score > 0.5, proba=score)  # warm up
    start = time.perf_counter()
    out = plots("classification", y, (score > 0.5).astype(int), proba=score)
    assert time.perf_counter() - start < 0.5  # ~20 ms here; generous for a shared machine
    assert all(len(curve) <= 500 for curve in curves(parse(out["roc"])))
