"""The public surface of ``treadle.data``: sorted, importable, and light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import treadle.data as td


def test_all_is_sorted_and_importable() -> None:
    assert td.__all__ == sorted(td.__all__, key=lambda n: (not n.isupper(), n.lower() if n[0].islower() else n))
    for name in td.__all__:
        assert hasattr(td, name), name
    public = {n for n in dir(td) if not n.startswith("_") and not isinstance(getattr(td, n), type(sys))}
    assert public <= set(td.__all__), public - set(td.__all__)


@pytest.mark.slow
def test_heavy_dependencies_load_lazily() -> None:
    code = (
        "import sys, treadle.data\n"
        "heavy = [m for m in ('polars', 'PIL', 'redis', 'ray', 'duckdb') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
