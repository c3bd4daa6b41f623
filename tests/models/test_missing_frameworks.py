"""A flavor whose framework is not installed says which treadle extra installs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from treadle.errors import InvalidArgument
from treadle.models import FLAVORS, load_model, to_onnx
from treadle.models._manifest import ModelManifest, hash_tree, write_manifest


@pytest.mark.parametrize(
    ("flavor", "blocked", "extra"),
    [
        ("sklearn", ["sklearn"], "sklearn"),
        ("skops", ["skops", "skops.io"], "skops"),
        ("xgboost", ["xgboost"], "xgboost"),
        ("lightgbm", ["lightgbm"], "lightgbm"),
        ("pytorch", ["torch"], "torch"),
        ("onnx", ["onnx", "onnxruntime"], "onnx"),
    ],
)
def test_missing_framework_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flavor: str, blocked: list[str], extra: str
) -> None:
    for module in blocked:
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    (tmp_path / "model.bin").write_bytes(b"not a model")
    manifest = ModelManifest(
        flavor=flavor,
        flavor_options={"file": "model.bin"},
        python_version="3.11.0",
        treadle_version="0",
        files=hash_tree(tmp_path),
    ).sealed()
    write_manifest(tmp_path, manifest)
    with pytest.raises(InvalidArgument, match=rf"pip install 'treadle\[{extra}\]'"):
        load_model(tmp_path)
    with pytest.raises(InvalidArgument, match=rf"pip install 'treadle\[{extra}\]'"):
        FLAVORS[flavor]().save(object(), tmp_path)


def test_to_onnx_without_skl2onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(
        InvalidArgument, match=r"skl2onnx is not installed; install it with: pip install 'treadle\[onnx\]'"
    ):
        to_onnx(object(), [[1.0]])
