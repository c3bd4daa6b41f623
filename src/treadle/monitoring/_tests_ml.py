"""Tests for columns that are not one number: MMD for embeddings, a domain classifier for text."""

from __future__ import annotations

import numpy as np

from treadle.errors import InvalidArgument
from treadle.monitoring.base import ColumnSample, DriftResult, DriftTest, register_test

MMD_ROWS = 500  # rows per side in the kernel matrix (subsampled, seeded)
MMD_PERMUTATIONS = 200
TEXT_ROWS = 1000  # rows per side the domain classifier trains on


def _subsample(values: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= rows:
        return values
    return values[np.sort(rng.choice(len(values), rows, replace=False))]


class MMD(DriftTest):
    """Maximum mean discrepancy of two sets of vectors (an embedding column): RBF kernel with the
    median heuristic (bandwidth = median pairwise squared distance), biased MMD² as the statistic,
    p-value from 200 permutations of the pooled (subsampled, seeded) rows."""

    name = "mmd"
    kinds = frozenset({"embedding"})
    p_value_test = True
    default_threshold = 0.05

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        assert ref.values is not None and cur.values is not None
        if ref.values.shape[1] != cur.values.shape[1]:
            raise InvalidArgument(
                f"embedding sizes differ: reference {ref.values.shape[1]}, current {cur.values.shape[1]}"
            )
        rng = np.random.default_rng(0)
        x, y = _subsample(ref.values, MMD_ROWS, rng), _subsample(cur.values, MMD_ROWS, rng)
        z = np.vstack([x, y]).astype(np.float64)
        sq = (z * z).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * (z @ z.T), 0.0)
        positive = d2[np.triu_indices(len(z), 1)]
        positive = positive[positive > 0]
        if len(positive) == 0:  # every vector identical on both sides
            return DriftResult(0.0, 1.0)
        k = np.exp(-d2 / np.median(positive))
        n, m = len(x), len(y)
        w = np.concatenate([np.full(n, 1 / n), np.full(m, -1 / m)])
        stat = float(w @ k @ w)
        perms = np.stack([rng.permutation(w) for _ in range(MMD_PERMUTATIONS)])
        null = ((perms @ k) * perms).sum(1)
        p = (1 + int(np.sum(null >= stat))) / (1 + MMD_PERMUTATIONS)
        return DriftResult(stat, p)


class DomainClassifier(DriftTest):
    """Text drift: how well a classifier tells reference rows from current ones. TF-IDF (word
    1-2 grams) + logistic regression, 3-fold cross-validated ROC AUC on up to 1,000 rows a side;
    0.5 means indistinguishable, drift when AUC >= 0.55. Needs scikit-learn."""

    name = "domain_classifier"
    kinds = frozenset({"text"})
    p_value_test = False
    default_threshold = 0.55

    def compute(self, ref: ColumnSample, cur: ColumnSample) -> DriftResult:
        try:
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.linear_model import LogisticRegression
            from sklearn.metrics import roc_auc_score
            from sklearn.model_selection import StratifiedKFold, cross_val_predict
        except ImportError:
            raise InvalidArgument(
                "the text drift test (domain_classifier) needs scikit-learn: pip install scikit-learn"
            ) from None
        assert ref.values is not None and cur.values is not None
        rng = np.random.default_rng(0)
        x = _subsample(ref.values, TEXT_ROWS, rng).tolist() + _subsample(cur.values, TEXT_ROWS, rng).tolist()
        n_ref = min(len(ref.values), TEXT_ROWS)
        y = np.r_[np.zeros(n_ref), np.ones(len(x) - n_ref)]
        if min(n_ref, len(x) - n_ref) < 3:
            raise InvalidArgument("the text drift test needs at least 3 rows on each side")
        try:
            features = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=50_000).fit_transform(x)
        except ValueError:  # empty vocabulary: every text is empty or stop words
            return DriftResult(0.5)
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
        proba = cross_val_predict(LogisticRegression(max_iter=1000), features, y, cv=folds, method="predict_proba")
        return DriftResult(float(roc_auc_score(y, proba[:, 1])))


register_test(MMD())
register_test(DomainClassifier())
