"""The search-space notation: tuples are ranges, lists are choices, dicts are explicit (YAML)."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from treadle.errors import InvalidArgument
from treadle.tuning import load_space, parse_space
from treadle.tuning._space import grid_of


def test_python_notation() -> None:
    space = parse_space(
        {
            "lr": ("log", 1e-4, 1e-1),
            "units": ("log", 8, 256),
            "depth": (2, 8),
            "frac": (0.5, 1.0, 0.1),
            "kernel": ["rbf", "linear"],
            "c": FloatDistribution(0.1, 10.0),
        }
    )
    assert space["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert space["units"] == IntDistribution(8, 256, log=True)
    assert space["depth"] == IntDistribution(2, 8)
    assert space["frac"] == FloatDistribution(0.5, 1.0, step=0.1)
    assert space["kernel"] == CategoricalDistribution(["rbf", "linear"])
    assert space["c"] == FloatDistribution(0.1, 10.0)


def test_yaml_notation(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "space:\n"
        "  lr: {low: 0.0001, high: 0.1, log: true}\n"
        "  depth: {range: [2, 8]}\n"
        "  alpha: [log, 0.01, 1.0]\n"
        "  kernel: {choices: [rbf, linear]}\n"
        "  solver: [adam, sgd]\n"
    )
    space = load_space(path)
    assert space["lr"] == FloatDistribution(1e-4, 0.1, log=True)
    assert space["depth"] == IntDistribution(2, 8)
    assert space["alpha"] == FloatDistribution(0.01, 1.0, log=True)
    assert space["kernel"] == CategoricalDistribution(["rbf", "linear"])
    assert space["solver"] == CategoricalDistribution(["adam", "sgd"])


@pytest.mark.parametrize(
    ("space", "fragment"),
    [
        ({}, "non-empty"),
        ({"x": (1.0, 0.0)}, "low <= high"),
        ({"x": ("log", 0.0, 1.0)}, "low > 0"),
        ({"x": ("log", 1.0, 2.0, 0.5)}, "log range cannot have a step"),
        ({"x": (1.0, 2.0, 0.5, 9.0)}, "(low, high)"),
        ({"x": []}, "no choices"),
        ({"x": "fast"}, "cannot read 'fast'"),
        ({"x": {"low": 0.1, "high": 1.0, "log": True, "step": 0.1}}, "log range cannot have a step"),
        ({"x": ("a", "b")}, "numbers"),
    ],
)
def test_mistakes_name_the_parameter(space: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_space(space)
    assert fragment in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_space(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("x: [unclosed\n")
    with pytest.raises(InvalidArgument, match="not valid YAML"):
        load_space(tmp_path / "bad.yaml")


def test_grid() -> None:
    grid = grid_of(parse_space({"n": (1, 3), "f": (0.0, 1.0, 0.5), "k": ["a", "b"]}))
    assert grid == {"n": [1, 2, 3], "f": [0.0, 0.5, 1.0], "k": ["a", "b"]}
