"""The public surface: ``treadle.__all__`` is sorted, complete and importable."""

import treadle


def test_all_is_sorted_and_exists() -> None:
    names = [n for n in treadle.__all__ if n != "__version__"]
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    for name in treadle.__all__:
        assert hasattr(treadle, name), name


def test_public_functions_are_exported() -> None:
    public = {n for n in dir(treadle) if not n.startswith("_") and callable(getattr(treadle, n))}
    assert public <= set(treadle.__all__), public - set(treadle.__all__)
