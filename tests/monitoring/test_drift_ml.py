"""MMD on embeddings and the text domain classifier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from treadle.errors import InvalidArgument
from treadle.monitoring import drift, infer_kind


def _vectors(n: int, shift: float = 0.0, seed: int = 0, dims: int = 8) -> pd.Series:
    rows = np.random.default_rng(seed).normal(0, 1, (n, dims))
    rows[:, 0] += shift
    return pd.Series(list(rows))


def test_embeddings_are_inferred_and_get_mmd() -> None:
    ref, cur = _vectors(150, seed=1), _vectors(150, 0.8, seed=2)
    assert infer_kind(ref) == "embedding"
    got = drift(pd.DataFrame({"e": ref}), pd.DataFrame({"e": cur})).columns["e"]
    assert got.kind == "embedding" and got.test == "mmd"
    assert got.drifted and got.p_value is not None and got.p_value < 0.01
    assert got.statistic is not None and got.statistic > 0


def test_mmd_false_positive_rate_over_seeds() -> None:
    hits = sum(
        drift(pd.DataFrame({"e": _vectors(60, seed=2 * s)}), pd.DataFrame({"e": _vectors(60, seed=2 * s + 1)}))
        .columns["e"]
        .drifted
        for s in range(40)
    )
    assert hits <= 6  # Binomial(40, 0.05): P(X >= 7) < 0.1%


def test_vectors_with_nan_or_inf_are_counted_not_tested() -> None:
    cur = _vectors(150, seed=2)
    cur[3] = np.array([np.nan] + [0.0] * 7)
    cur[4] = np.array([np.inf] + [0.0] * 7)
    got = drift(pd.DataFrame({"e": _vectors(150, seed=1)}), pd.DataFrame({"e": cur})).columns["e"]
    assert got.statistic is not None and np.isfinite(got.statistic) and not got.drifted  # NaN kernels read as drift
    assert got.detail["non_finite"] == [0, 2]


def test_embeddings_of_different_sizes_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="embedding sizes differ"):
        drift(pd.DataFrame({"e": _vectors(20, dims=4)}), pd.DataFrame({"e": _vectors(20, dims=5)}))
    ragged = pd.Series([np.zeros(3), np.zeros(4)] * 10)
    with pytest.raises(InvalidArgument, match="one length"):
        drift(pd.DataFrame({"e": ragged}), pd.DataFrame({"e": ragged}), tests={"e": "mmd"})


WORDS_A = ["the", "model", "serves", "predictions", "for", "customers", "in", "the", "store", "every", "day"]
WORDS_B = ["quarterly", "invoices", "shipping", "delays", "refund", "requests", "warehouse", "inventory"]


def _texts(n: int, words: list[str], seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series([" ".join(rng.choice(words, 8)) for _ in range(n)])


def test_text_domain_classifier_sees_a_changed_vocabulary() -> None:
    pytest.importorskip("sklearn")
    ref = _texts(300, WORDS_A, 1)
    assert infer_kind(ref) == "text"
    mixed = pd.concat([_texts(150, WORDS_A, 2), _texts(150, WORDS_B, 3)], ignore_index=True)
    changed = drift(pd.DataFrame({"t": ref}), pd.DataFrame({"t": mixed})).columns["t"]
    assert changed.test == "domain_classifier" and changed.threshold == 0.55
    assert changed.drifted and changed.statistic is not None and changed.statistic > 0.7
    same = drift(pd.DataFrame({"t": ref}), pd.DataFrame({"t": _texts(300, WORDS_A, 4)})).columns["t"]
    assert not same.drifted and same.statistic is not None and same.statistic < 0.55


def test_text_test_without_scikit_learn_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # what a missing package looks like to import
    ref = pd.DataFrame({"t": _texts(50, WORDS_A, 1)})
    with pytest.raises(InvalidArgument, match="needs scikit-learn"):
        drift(ref, ref)
