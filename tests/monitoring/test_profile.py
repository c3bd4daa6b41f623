"""Reference profiles: kinds, statistics, serialisation, and drift from a stored profile."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from treadle.errors import InvalidArgument
from treadle.monitoring import Profile, drift, infer_kind, profile


def test_infer_kind() -> None:
    assert infer_kind(pd.Series([1, 2, 3])) == "numeric"
    assert infer_kind(pd.Series([1.5, np.nan])) == "numeric"
    assert infer_kind(pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"]))) == "numeric"
    assert infer_kind(pd.Series(["a", "b", None])) == "categorical"
    assert infer_kind(pd.Series(["a", "b"], dtype=object)) == "categorical"
    assert infer_kind(pd.Series([True, False])) == "categorical"
    assert infer_kind(pd.Series(["x", "y"], dtype="category")) == "categorical"
    assert infer_kind(pd.Series([np.zeros(3), np.ones(3)])) == "embedding"
    assert infer_kind(pd.Series([f"sentence number {i} has several words" for i in range(50)])) == "text"
    assert infer_kind(pd.Series([None, None], dtype=object)) == "categorical"


def _mixed(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 2, n)
    x[:7], x[7:10] = np.nan, np.inf
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 4, n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "e": list(rng.normal(0, 1, (n, 4))),
            "t": [f"row {i} says {rng.choice(['hello', 'world', 'again'])} and more" for i in range(n)],
            "empty": np.full(n, np.nan),
        }
    )


def test_numeric_profile_ignores_nan_and_inf_and_matches_numpy() -> None:
    frame = _mixed(20_000)
    p = profile(frame, kinds={"t": "text"})
    x = p.columns["x"]
    finite = frame["x"].to_numpy()[np.isfinite(frame["x"].to_numpy())]
    assert (x.kind, x.n, x.missing, x.non_finite) == ("numeric", 19_990, 7, 3)
    assert x.mean == pytest.approx(finite.mean()) and x.std == pytest.approx(finite.std())
    assert x.quantiles is not None and len(x.quantiles) == 1001
    np.testing.assert_array_equal(x.quantiles, np.quantile(finite, np.linspace(0, 1, 1001)))
    assert x.counts is not None and x.counts.sum() == 19_990 and x.edges is not None and len(x.edges) == 21
    assert x.values is not None and len(x.values) == 5000 and x.categories is None
    k = p.columns["k"]
    assert k.categories is not None and k.categories["0.0"] == (frame["k"] == 0).sum() and k.n_unique == 4
    assert p.columns["c"].categories == frame["c"].value_counts().to_dict()
    assert p.columns["e"].kind == "embedding" and p.columns["e"].values.shape == (5000, 4)  # type: ignore[union-attr]
    empty = p.columns["empty"]
    assert (empty.n, empty.missing, empty.quantiles) == (0, 20_000, None)
    assert p.rows == 20_000


def test_profile_round_trips_through_bytes_without_pickle() -> None:
    p = profile(_mixed(3000), kinds={"t": "text"})
    p = Profile(p.rows, p.columns, extra={"cbpe": {"classes": ["a", "b"], "x": [0.5, 1.0]}})
    data = p.to_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            with z.open(name) as f:
                assert np.lib.format.read_array(f, allow_pickle=False) is not None
    back = Profile.from_bytes(data)
    assert back.rows == p.rows and back.extra == p.extra and list(back.columns) == list(p.columns)
    for name, col in p.columns.items():
        got = back.columns[name]
        for field in ("kind", "n", "missing", "non_finite", "mean", "std", "min", "max", "categories", "n_unique"):
            assert getattr(got, field) == getattr(col, field), (name, field)
        for field in ("quantiles", "edges", "counts", "values"):
            a, b = getattr(col, field), getattr(got, field)
            assert (a is None) == (b is None), (name, field)
            if a is not None:
                assert list(a.ravel()) == list(b.ravel()), (name, field)
    with pytest.raises(InvalidArgument, match="not a treadle profile"):
        Profile.from_bytes(b"garbage")


def test_drift_from_a_small_profile_equals_drift_from_the_frame() -> None:
    ref, cur = _mixed(3000, 1), _mixed(2000, 2)
    cur["x"] += 0.5
    cols = ["x", "k", "c", "e"]
    from_frame = drift(ref, cur, columns=cols)
    from_profile = drift(Profile.from_bytes(profile(ref, cols).to_bytes()), cur)
    for c in cols:
        a, b = from_frame.columns[c], from_profile.columns[c]
        assert (a.test, a.drifted) == (b.test, b.drifted)
        assert a.statistic == pytest.approx(b.statistic, abs=1e-12), c
        assert a.p_value == pytest.approx(b.p_value, abs=1e-12), c


def test_drift_from_a_large_profile_is_close_to_drift_from_the_frame() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"w": rng.gamma(2, 2, 60_000), "c": rng.choice(list("abcde"), 60_000)})
    cur = pd.DataFrame({"w": rng.gamma(2, 2.3, 20_000), "c": rng.choice(list("abcde"), 20_000)})
    p = profile(ref)
    for test in ("wasserstein", "jensenshannon", "psi", "hellinger", "ks"):
        a = drift(ref, cur, tests={"w": test}).columns["w"]
        b = drift(p, cur, tests={"w": test}).columns["w"]
        assert a.drifted == b.drifted, test
        assert b.statistic == pytest.approx(a.statistic, rel=0.1, abs=0.01), test
    assert drift(p, cur).columns["c"].statistic == pytest.approx(drift(ref, cur).columns["c"].statistic, abs=1e-12)


def test_profile_bad_input() -> None:
    with pytest.raises(InvalidArgument, match="not in the frame"):
        profile(pd.DataFrame({"a": [1]}), columns=["b"])
    with pytest.raises(InvalidArgument, match="DataFrame"):
        profile([1, 2])


def test_a_large_profile_keeps_the_mass_of_a_repeated_value() -> None:
    """A zero-inflated column profiled by quantiles: the shares of its bins (drill-down histograms,
    binned tests) keep the 30% at zero in the first bin, as np.histogram does on the raw values."""
    from treadle.monitoring._profile import sample_from_profile

    rng = np.random.default_rng(0)
    x = np.where(rng.random(20_000) < 0.3, 0.0, rng.exponential(size=20_000))
    p = profile(pd.DataFrame({"x": x}))
    sample = sample_from_profile(p.columns["x"])
    assert not sample.exact
    edges = np.linspace(x.min(), x.max(), 21)
    np.testing.assert_allclose(sample.shares(edges), np.histogram(x, edges)[0] / len(x), atol=0.002)
    same = drift(p, pd.DataFrame({"x": x[:5000]}), tests={"x": "jensenshannon"}).columns["x"]
    assert not same.drifted and same.statistic is not None and same.statistic < 0.05
