"""Each drift test against scipy on fixed data; each detects a real shift and stays quiet on none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from treadle.monitoring import drift

RNG = np.random.default_rng(7)


def _one(ref: pd.Series, cur: pd.Series, test: str, **kw: object):  # type: ignore[no-untyped-def]
    report = drift(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}), tests={"x": test}, **kw)  # type: ignore[arg-type]
    return report.columns["x"]


def _normal(n: int, loc: float = 0.0, seed: int = 0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(loc, 1.0, n))


def _cats(n: int, p: list[float], seed: int = 0, values: str = "abcd") -> pd.Series:
    return pd.Series(np.random.default_rng(seed).choice(list(values[: len(p)]), n, p=p))


# ------------------------------------------------------------------------------ equal to scipy
def test_ks_equals_scipy() -> None:
    ref, cur = _normal(700, seed=1), _normal(450, 0.2, seed=2)
    got = _one(ref, cur, "ks")
    want = stats.ks_2samp(ref, cur)
    assert got.statistic == pytest.approx(want.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, abs=1e-12)


def test_wasserstein_equals_scipy_normalised_by_reference_std() -> None:
    ref, cur = _normal(3001, seed=3) * 5 + 2, _normal(1777, 0.3, seed=4) * 5 + 2
    cur.iloc[:300] = np.round(cur.iloc[:300])  # ties across both samples
    got = _one(ref, cur, "wasserstein")
    want = stats.wasserstein_distance(ref, cur) / np.std(ref.to_numpy())
    assert got.statistic == pytest.approx(want, abs=1e-9)
    assert got.p_value is None and got.threshold == 0.1


def test_chisquare_equals_scipy_over_union_of_categories() -> None:
    ref, cur = _cats(900, [0.5, 0.3, 0.2], seed=5), _cats(600, [0.4, 0.3, 0.2, 0.1], seed=6)
    got = _one(ref, cur, "chisquare")
    keys = ["a", "b", "c", "d"]
    r = np.array([(ref == k).sum() for k in keys], float)
    c = np.array([(cur == k).sum() for k in keys], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = stats.chisquare(c[:3], r[:3] * c[:3].sum() / r[:3].sum())
    assert got.p_value == 0.0 and got.drifted  # "d" never seen in the reference
    same = _one(ref, _cats(600, [0.45, 0.35, 0.2], seed=6), "chisquare")
    c3 = np.array([(_cats(600, [0.45, 0.35, 0.2], seed=6) == k).sum() for k in keys[:3]], float)
    want = stats.chisquare(c3, r[:3] * c3.sum() / r[:3].sum())
    assert same.statistic == pytest.approx(want.statistic, abs=1e-9)
    assert same.p_value == pytest.approx(want.pvalue, abs=1e-12)


def test_z_equals_chi2_contingency_without_correction() -> None:
    ref, cur = _cats(800, [0.6, 0.4], seed=8), _cats(500, [0.52, 0.48], seed=9)
    got = _one(ref, cur, "z")
    table = [[(ref == "a").sum(), (ref == "b").sum()], [(cur == "a").sum(), (cur == "b").sum()]]
    want = stats.chi2_contingency(table, correction=False)
    assert got.statistic == pytest.approx(-np.sqrt(want.statistic), abs=1e-9)  # share of "b" rose
    assert got.p_value == pytest.approx(want.pvalue, abs=1e-12)


def _sturges_shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    return np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)


def test_jensenshannon_equals_scipy_on_sturges_bins_and_on_categories() -> None:
    ref, cur = _normal(5000, seed=10), _normal(4000, 0.25, seed=11)
    p, q = _sturges_shares(ref.to_numpy(), cur.to_numpy())
    assert _one(ref, cur, "jensenshannon").statistic == pytest.approx(distance.jensenshannon(p, q), abs=1e-9)
    rc, cc = _cats(3000, [0.4, 0.3, 0.3], seed=12), _cats(2000, [0.3, 0.3, 0.4], seed=13)
    p = rc.value_counts(normalize=True).sort_index().to_numpy()
    q = cc.value_counts(normalize=True).sort_index().to_numpy()
    assert _one(rc, cc, "jensenshannon").statistic == pytest.approx(distance.jensenshannon(p, q), abs=1e-9)


def test_hellinger_on_sturges_bins() -> None:
    ref, cur = _normal(5000, seed=14), _normal(3000, 0.5, seed=15)
    p, q = _sturges_shares(ref.to_numpy(), cur.to_numpy())
    want = np.sqrt(1 - np.sum(np.sqrt(p * q)))
    assert _one(ref, cur, "hellinger").statistic == pytest.approx(want, abs=1e-9)


def test_psi_on_reference_deciles() -> None:
    ref, cur = _normal(5000, seed=16), _normal(3000, 0.3, seed=17)
    inner = np.quantile(ref, np.linspace(0, 1, 11))[1:-1]
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    p = np.histogram(ref, edges)[0] / len(ref)
    q = np.histogram(cur, edges)[0] / len(cur)
    want = np.sum((q - p) * np.log(q / p))
    got = _one(ref, cur, "psi")
    assert got.statistic == pytest.approx(want, abs=1e-9)
    assert got.drifted  # a 0.3 sd shift is a PSI of ~0.1


def test_psi_gives_empty_bins_an_epsilon() -> None:
    ref, cur = pd.Series(["a"] * 50 + ["b"] * 50), pd.Series(["a"] * 100)
    got = _one(ref, cur, "psi")
    want = (1 - 0.5) * np.log(1 / 0.5) + (1e-4 - 0.5) * np.log(1e-4 / 0.5)
    assert got.statistic == pytest.approx(want, abs=1e-12)


# ------------------------------------------------------------------ detects a shift, quiet on none
@pytest.mark.parametrize(
    ("test", "ref", "shifted", "same"),
    [
        ("ks", _normal(500, seed=20), _normal(500, 0.4, seed=21), _normal(500, seed=22)),
        ("wasserstein", _normal(5000, seed=23), _normal(5000, 0.3, seed=24), _normal(5000, seed=25)),
        ("jensenshannon", _normal(5000, seed=26), _normal(5000, 0.8, seed=27), _normal(5000, seed=28)),
        ("psi", _normal(5000, seed=29), _normal(5000, 0.5, seed=30), _normal(5000, seed=31)),
        ("hellinger", _normal(5000, seed=32), _normal(5000, 0.8, seed=33), _normal(5000, seed=34)),
        (
            "chisquare",
            _cats(800, [0.4, 0.3, 0.3], seed=35),
            _cats(800, [0.3, 0.3, 0.4], seed=36),
            _cats(800, [0.4, 0.3, 0.3], seed=37),
        ),
        ("z", _cats(800, [0.5, 0.5], seed=38), _cats(800, [0.6, 0.4], seed=39), _cats(800, [0.5, 0.5], seed=40)),
    ],
)
def test_detects_a_real_shift_and_not_a_resample(
    test: str, ref: pd.Series, shifted: pd.Series, same: pd.Series
) -> None:
    assert _one(ref, shifted, test).drifted
    assert not _one(ref, same, test).drifted


@pytest.mark.parametrize(
    ("test", "make", "ref_rows"),
    [
        ("ks", lambda n, s: _normal(n, seed=s), 200),
        # chi-square (Evidently's) is a goodness-of-fit test against the reference frequencies: it
        # holds its alpha when the reference is much larger than the current window.
        ("chisquare", lambda n, s: _cats(n, [0.4, 0.3, 0.2, 0.1], seed=s), 20_000),
        ("z", lambda n, s: _cats(n, [0.7, 0.3], seed=s), 300),
    ],
)
def test_false_positive_rate_at_alpha_over_200_seeds(test: str, make: object, ref_rows: int) -> None:
    # Under no shift the rejections are Binomial(200, 0.05): mean 10; P(X <= 2) and P(X >= 21) < 0.3%.
    hits = 0
    fixed = make(ref_rows, 10_000) if ref_rows > 1000 else None  # type: ignore[operator]
    for seed in range(200):
        ref = fixed if fixed is not None else make(ref_rows, 2 * seed)  # type: ignore[operator]
        hits += _one(ref, make(300 if fixed is not None else ref_rows, 2 * seed + 1), test).drifted  # type: ignore[operator]
    assert 2 < hits < 21, hits


@pytest.mark.parametrize("test", ["wasserstein", "jensenshannon", "psi", "hellinger"])
def test_distances_stay_below_their_threshold_without_shift(test: str) -> None:
    reports = [_one(_normal(5000, seed=2 * s), _normal(5000, seed=2 * s + 1), test) for s in range(20)]
    assert not any(r.drifted for r in reports), [r.statistic for r in reports]  # no false alarm


def test_every_registered_test_is_quiet_on_identical_data_and_names_its_kinds() -> None:
    from treadle.monitoring import drift_test_names, get_test

    frames = {
        "numeric": pd.DataFrame({"x": _normal(400, seed=50)}),
        "categorical": pd.DataFrame({"x": _cats(400, [0.5, 0.3, 0.2], seed=51)}),
        "embedding": pd.DataFrame({"x": list(np.random.default_rng(52).normal(0, 1, (60, 3)))}),
    }
    for name in drift_test_names():
        test = get_test(name)
        assert test.kinds and test.default_threshold > 0
        for kind in test.kinds & set(frames):
            got = drift(frames[kind], frames[kind], tests={"x": name}).columns["x"]
            assert got.test == name and not got.drifted, (name, kind)
            assert (got.p_value is not None) == test.p_value_test


def test_a_registered_custom_test_is_used_by_name() -> None:
    from treadle.monitoring import ColumnSample, DriftResult, DriftTest, register_test

    class MeanShift(DriftTest):
        """Difference of means in reference standard deviations."""

        name = "mean_shift"
        kinds = frozenset({"numeric"})
        p_value_test = False
        default_threshold = 0.2

        def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
            assert ref.sorted is not None and cur.sorted is not None
            return DriftResult(abs(cur.sorted.mean() - ref.sorted.mean()) / ref.sorted.std())

    register_test(MeanShift())
    got = _one(_normal(1000, seed=60), _normal(1000, 0.5, seed=61), "mean_shift")
    assert got.test == "mean_shift" and got.drifted and got.statistic == pytest.approx(0.5, abs=0.1)
