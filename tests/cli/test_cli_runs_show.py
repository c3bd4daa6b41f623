"""``treadle runs show`` and ``treadle runs compare``, and run id prefixes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.cli.conftest import Seeded
from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.cli._context import resolve_run
from treadle.errors import InvalidArgument, NotFound


def test_show_everything_about_a_run(ok: Ok, seeded: Seeded) -> None:
    text = ok("runs", "show", seeded.fast)
    for expected in (
        seeded.fast,
        "fast",
        "exp-a (1)",
        "FINISHED",
        "params",
        "lr",
        "0.1",
        "epochs",
        "metrics",
        "latest",
        "acc",
        "0.9",
        "tags",
        "owner",
        "ada",
        "inputs",
        "sklearn://iris",
        "artifacts (3)",
        "notes/readme.txt",
        "model/weights.bin",
        "config.json",
    ):
        assert expected in text, expected


def test_show_child_names_its_parent(ok: Ok, seeded: Seeded) -> None:
    text = ok("runs", "show", seeded.child)
    assert "parent" in text and seeded.fast in text
    assert "artifacts" not in text and "inputs" not in text


def test_show_by_prefix_and_errors(ok: Ok, cli: Invoke, seeded: Seeded) -> None:
    assert seeded.slow in ok("runs", "show", seeded.slow[:6].upper())
    assert_user_error(cli("runs", "show", "nope"), "run 'nope' does not exist")
    assert_user_error(cli("runs", "show", "abc"), "does not exist")  # too short to be a prefix
    unused = next(
        p
        for p in ("0000", "1111", "2222", "3333")
        if not any(r.startswith(p) for r in (seeded.fast, seeded.slow, seeded.child, seeded.other))
    )
    assert_user_error(cli("runs", "show", unused), f"no run id starts with '{unused}'")


def test_ambiguous_prefix_is_refused() -> None:
    runs = [SimpleNamespace(id="abcd1"), SimpleNamespace(id="abcd2")]

    def get_run(run_id: str) -> Any:
        raise NotFound(run_id)

    tracking = SimpleNamespace(search_runs=lambda **kw: SimpleNamespace(runs=runs[: kw["max_results"]]))
    client: Any = SimpleNamespace(get_run=get_run, tracking=tracking)
    with pytest.raises(InvalidArgument, match="ambiguous"):
        resolve_run(client, "abcd")


def test_compare_marks_differences(ok: Ok, seeded: Seeded) -> None:
    text = ok("runs", "compare", seeded.fast, seeded.slow)
    rows = {line.split("│")[2].strip(): line for line in text.splitlines() if line.count("│") >= 4}
    assert "≠" in rows["params.lr"] and "0.1" in rows["params.lr"] and "0.01" in rows["params.lr"]
    assert "≠" in rows["metrics.acc"] and "0.9" in rows["metrics.acc"] and "0.6" in rows["metrics.acc"]
    assert "≠" not in rows["params.epochs"] and "≠" not in rows["experiment"]
    assert "fast" in text and "slow" in text and seeded.fast[:8] in text


def test_compare_only_diff_and_missing_values(ok: Ok, seeded: Seeded) -> None:
    text = ok("runs", "compare", "--only-diff", seeded.fast, seeded.child, seeded.other)
    assert "params.lr" in text and "experiment" in text
    assert "params.epochs" not in text and "status" not in text
    same = ok("runs", "compare", "--only-diff", seeded.fast, seeded.fast)
    assert "same params and metrics" in same


def test_compare_errors(cli: Invoke, seeded: Seeded) -> None:
    assert_user_error(cli("runs", "compare", seeded.fast), "at least two runs")
    assert_user_error(cli("runs", "compare", seeded.fast, "missing-run"), "missing-run")
