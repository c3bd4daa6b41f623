"""``treadle.models``' public surface is sorted and complete; importing it imports no framework."""

from __future__ import annotations

import subprocess
import sys

import treadle.models


def test_all_is_sorted_and_exists() -> None:
    def isort_key(name: str) -> tuple[int, str]:  # ruff's RUF022 order: CONSTANTS, Classes, functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert treadle.models.__all__ == sorted(treadle.models.__all__, key=isort_key)
    for name in treadle.models.__all__:
        assert hasattr(treadle.models, name), name
    assert treadle.models.list_flavors() == ["lightgbm", "onnx", "python", "pytorch", "sklearn", "skops", "xgboost"]


def test_import_is_lazy() -> None:
    code = (
        "import sys, treadle.models; "
        "print(sorted(m for m in ('sklearn', 'torch', 'xgboost', 'lightgbm', 'onnx', 'onnxruntime', 'skops', "
        "'skl2onnx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
