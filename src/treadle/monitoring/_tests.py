"""The built-in drift tests (imported for their registration) and Evidently's default rules."""

from __future__ import annotations

from treadle.monitoring import _tests_dist, _tests_ml, _tests_stat  # noqa: F401  (register the tests)
from treadle.monitoring.base import ColumnSample

SMALL_REFERENCE = 1000  # Evidently: references up to this many rows get hypothesis tests


def union_unique(ref: ColumnSample, cur: ColumnSample, cap: int) -> int:
    """Distinct non-missing values over both samples, exact up to ``cap`` (anything above is ``cap + 1``)."""
    if ref.n_unique > cap or cur.n_unique > cap:
        return cap + 1
    return len(set(ref.value_counts()) | set(cur.value_counts()))


def default_test(
    ref: ColumnSample,
    cur: ColumnSample,
    *,
    numeric: str | None = None,
    categorical: str | None = None,
) -> str:
    """Evidently 0.7's choice for a column (``numeric``/``categorical`` override it per kind):

    reference <= 1000 rows: numeric -> ks (more than 5 distinct values over both samples), else
    chisquare (more than 2) else z; categorical -> chisquare (more than 2) else z.
    Larger references: numeric -> wasserstein (more than 5 distinct) else jensenshannon;
    categorical -> jensenshannon. Embeddings -> mmd; text -> domain_classifier."""
    if ref.kind == "embedding":
        return "mmd"
    if ref.kind == "text":
        return "domain_classifier"
    if ref.kind == "numeric" and numeric:
        return numeric
    if ref.kind == "categorical" and categorical:
        return categorical
    n_values = union_unique(ref, cur, 5)
    if ref.n <= SMALL_REFERENCE:
        if ref.kind == "numeric" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if ref.kind == "numeric" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"
