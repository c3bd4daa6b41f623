"""Data quality of a current window against a real reference profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from treadle.errors import InvalidArgument
from treadle.monitoring._profile import Profile, profile
from treadle.monitoring._quality import MAX_UNSEEN, quality


@pytest.fixture(scope="module")
def reference() -> Profile:
    rng = np.random.default_rng(0)
    n = 500
    frame = pd.DataFrame(
        {
            "age": rng.uniform(18, 90, size=n),
            "income": rng.normal(50_000, 10_000, size=n),
            "city": rng.choice(["paris", "rome", "oslo"], size=n),
            "flag": rng.choice([True, False], size=n),
            "emb": [rng.normal(size=4) for _ in range(n)],
            "when": pd.date_range("2026-01-01", periods=n, freq="h"),
        }
    )
    # through the stored form, as the runner reads it
    return Profile.from_bytes(profile(frame, kinds={"emb": "embedding"}).to_bytes())


COLUMNS = ["age", "income", "city", "flag", "emb", "when"]


def _clean(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.linspace(20, 80, n),
            "income": np.full(n, 50_000.0),
            "city": ["paris", "rome"] * (n // 2),
            "flag": [True, False] * (n // 2),
            "emb": [np.zeros(4) for _ in range(n)],
            "when": pd.date_range("2026-01-02", periods=n, freq="h"),
        }
    )


def test_clean_window_reports_nothing_wrong(reference: Profile) -> None:
    q = quality(reference, _clean(), COLUMNS)
    assert q.rows == 10
    assert q.missing == dict.fromkeys(COLUMNS, 0.0)
    assert q.non_finite == {"age": 0, "income": 0, "when": 0}
    assert q.out_of_range == {"age": 0.0, "income": 0.0, "when": 0.0}
    assert q.unseen_categories == {} and q.type_errors == {}
    assert q.missing_columns == [] and q.extra_columns == []
    assert q.missing_share == 0.0


def test_missing_inf_out_of_range_and_unseen(reference: Profile) -> None:
    cur = _clean()
    cur["age"] = [np.nan, np.inf, -np.inf, 10.0, 200.0, 30.0, 40.0, None, 50.0, 60.0]
    cur["city"] = ["paris", "tokyo", None, "lima", "tokyo", "rome", "tokyo", "lima", "bern", "paris"]
    cur["flag"] = [True, False, None, True, True, False, True, True, True, False]
    cur["when"] = list(pd.date_range("2020-01-01", periods=2, freq="h")) + list(_clean()["when"][2:])
    q = quality(reference, cur, COLUMNS)
    assert q.missing["age"] == pytest.approx(0.2)
    assert q.non_finite["age"] == 2
    assert q.out_of_range["age"] == pytest.approx(2 / 6)  # 10 and 200 of the 6 finite values
    assert q.out_of_range["when"] == pytest.approx(0.2)  # two timestamps before the reference began
    assert q.missing["city"] == pytest.approx(0.1) and q.missing["flag"] == pytest.approx(0.1)
    assert q.unseen_categories == {"city": ["tokyo", "lima", "bern"]}  # most frequent first
    # 2 + 1 + 1 missing cells of 60 monitored cells
    assert q.missing_share == pytest.approx(4 / 60)


def test_unseen_categories_are_capped(reference: Profile) -> None:
    cur = _clean(40)
    cur["city"] = [f"c{i:02d}" for i in range(40)]
    q = quality(reference, cur, ["city"])
    assert len(q.unseen_categories["city"]) == MAX_UNSEEN
    assert q.unseen_categories["city"][0] == "c00"


def test_schema_violations(reference: Profile) -> None:
    cur = _clean().drop(columns=["income"])
    cur["age"] = ["25", "abc", 30, None, "n/a", 41.5, 50, 60, 70, 80]
    cur["emb"] = [np.zeros(4)] * 8 + [np.zeros(3), "oops"]
    cur["request_id"] = "r"
    q = quality(reference, cur, COLUMNS)
    assert q.missing_columns == ["income"]
    assert q.extra_columns == ["request_id"]
    assert "expected numbers" in q.type_errors["age"] and "'abc'" in q.type_errors["age"]
    assert "3 of 9 values of type str" in q.type_errors["age"]
    assert "2 cannot be read as numbers" in q.type_errors["age"]
    assert "expected vectors" in q.type_errors["emb"] and "oops" in q.type_errors["emb"]
    # the readable values still get range-checked: "25", 30, 41.5, 50..80 are inside [18, 90]
    assert q.out_of_range["age"] == 0.0
    # an absent column counts as entirely missing: 10 cells + 1 missing age, of 60
    assert q.missing_share == pytest.approx(11 / 60)


def test_wrong_vector_length_and_columns_outside_the_reference(reference: Profile) -> None:
    cur = _clean()
    cur["emb"] = [np.zeros(5) for _ in range(10)]
    cur["new"] = ["a"] * 10
    q = quality(reference, cur, ["emb", "new"])
    assert q.type_errors["emb"] == "expected vectors of length 4, found lengths [5]"
    assert q.missing["new"] == 0.0 and "new" not in q.unseen_categories  # nothing to compare with


def test_empty_window_and_bad_input(reference: Profile) -> None:
    q = quality(reference, _clean().iloc[:0], COLUMNS)
    assert q.model_dump(exclude_defaults=True) == {"rows": 0}
    with pytest.raises(InvalidArgument, match="DataFrame"):
        quality(reference, [1, 2], COLUMNS)


def test_integer_codes_made_float_by_a_missing_value_are_not_unseen() -> None:
    ref = profile(pd.DataFrame({"code": [1, 2, 3, 2]}), categorical=["code"])
    q = quality(ref, pd.DataFrame({"code": [1.0, None, 2.0, 7.0]}), ["code"])
    assert q.unseen_categories == {"code": ["7"]}
    assert q.missing["code"] == 0.25


def test_categories_are_spelled_as_the_profile_spells_them() -> None:
    """Float codes (1.0, 2.5) and the same codes served as integers or with a missing value: only a
    value the reference never had is unseen (profile, drift and quality share one spelling)."""
    ref = profile(pd.DataFrame({"c": [1.0, 2.5, 3.0] * 10}), categorical=["c"])
    assert ref.columns["c"].categories == {"1": 10, "2.5": 10, "3": 10}
    assert quality(ref, pd.DataFrame({"c": [1.0, 2.5, np.nan, 7.0]}), ["c"]).unseen_categories == {"c": ["7"]}
    assert quality(ref, pd.DataFrame({"c": [1, 3, 7]}), ["c"]).unseen_categories == {"c": ["7"]}
