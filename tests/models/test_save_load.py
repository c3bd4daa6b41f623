"""The model directory: manifest, digests, tamper refusal, atomic writes, requirements, code paths."""

from __future__ import annotations

import pickle
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from treadle.errors import AlreadyExists, CorruptBlob, InvalidArgument, NotFound
from treadle.models import MANIFEST, ModelManifest, Predictor, infer_signature, load_model, read_manifest, save_model

sklearn = pytest.importorskip("sklearn", reason="scikit-learn missing: pip install 'treadle[sklearn]'")
from sklearn.linear_model import LogisticRegression  # noqa: E402


@pytest.fixture(scope="module")
def clf(iris: tuple[pd.DataFrame, pd.Series]) -> Any:
    X, y = iris
    return LogisticRegression(max_iter=500).fit(X, y)


def test_sklearn_round_trip(tmp_path: Path, clf: Any, iris: tuple[pd.DataFrame, pd.Series]) -> None:
    X, _ = iris
    manifest = save_model(clf, tmp_path / "m", input_example=X.head(3), metadata={"owner": "me"})
    assert manifest == read_manifest(tmp_path / "m")
    assert manifest.flavor == "sklearn" and manifest.framework == "scikit-learn"
    assert manifest.framework_version == sklearn.__version__
    assert set(manifest.files) == {"model.pkl", "input_example.json"}
    assert manifest.digest == manifest.compute_digest() and manifest.metadata == {"owner": "me"}
    assert manifest.signature is not None and manifest.signature.outputs is not None
    assert [s.name for s in manifest.signature.inputs.specs] == list(X.columns)

    model = load_model(tmp_path / "m")
    assert isinstance(model, Predictor) and model.flavor == "sklearn"
    np.testing.assert_array_equal(model.predict(X), clf.predict(X))
    np.testing.assert_array_equal(model.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X.to_numpy()), clf.predict(X))  # ndarray gets the column names
    np.testing.assert_array_equal(model.predict(X.to_dict("list")), clf.predict(X))
    pd.testing.assert_frame_equal(model.input_example, X.head(3).reset_index(drop=True))
    assert model.signature == manifest.signature and model.manifest == manifest
    native = load_model(tmp_path / "m", flavor="sklearn")
    assert isinstance(native, LogisticRegression)
    np.testing.assert_array_equal(native.coef_, clf.coef_)


def test_signature_errors_name_the_column(tmp_path: Path, clf: Any, iris: tuple[pd.DataFrame, pd.Series]) -> None:
    X, _ = iris
    save_model(clf, tmp_path / "m", input_example=X.head(2))
    model = load_model(tmp_path / "m")
    with pytest.raises(InvalidArgument, match="column 'petal_width' is missing"):
        model.predict(X.drop(columns="petal_width"))
    with pytest.raises(InvalidArgument, match="column 'sepal_length' has dtype string, expected float64"):
        model.predict(X.assign(sepal_length="long"))


def test_requirements_are_inferred_and_pinned(tmp_path: Path, clf: Any, iris: tuple[pd.DataFrame, pd.Series]) -> None:
    manifest = save_model(clf, tmp_path / "m", input_example=iris[0].head(2))
    assert f"scikit-learn=={sklearn.__version__}" in manifest.requirements
    assert f"numpy=={np.__version__}" in manifest.requirements
    assert f"pandas=={pd.__version__}" in manifest.requirements
    assert not any(r.startswith(("treadle", "pytest")) for r in manifest.requirements)
    manifest = save_model(clf, tmp_path / "m2", requirements=["scikit-learn>=1.4", " "])
    assert manifest.requirements == ["scikit-learn>=1.4"]


def _tamper_pickle(path: Path, marker: Path) -> None:
    class Exploit:
        def __reduce__(self) -> Any:
            return (Path.touch, (marker,))

    path.write_bytes(pickle.dumps(Exploit()))


def test_tampered_pickle_is_refused_before_unpickling(tmp_path: Path, clf: Any) -> None:
    save_model(clf, tmp_path / "m")
    marker = tmp_path / "pwned"
    _tamper_pickle(tmp_path / "m" / "model.pkl", marker)
    with pytest.raises(CorruptBlob, match=r"model file 'model\.pkl' does not match its sha256"):
        load_model(tmp_path / "m")
    with pytest.raises(CorruptBlob, match=r"model\.pkl"):
        load_model(tmp_path / "m", flavor="sklearn")
    assert not marker.exists()
    pickle.loads((tmp_path / "m" / "model.pkl").read_bytes())  # the payload is live: unpickling runs it
    assert marker.exists()


def test_manifest_edits_and_extra_files_are_refused(tmp_path: Path, clf: Any) -> None:
    manifest = save_model(clf, tmp_path / "m")
    load_model(tmp_path / "m", expected_digest=manifest.digest)
    with pytest.raises(CorruptBlob, match="expected"):
        load_model(tmp_path / "m", expected_digest="0" * 64)

    # rewriting the file AND its sha in the manifest breaks the manifest's digest
    marker = tmp_path / "pwned"
    _tamper_pickle(tmp_path / "m" / "model.pkl", marker)
    raw = yaml.safe_load((tmp_path / "m" / MANIFEST).read_text())
    import hashlib

    raw["files"]["model.pkl"] = hashlib.sha256((tmp_path / "m" / "model.pkl").read_bytes()).hexdigest()
    (tmp_path / "m" / MANIFEST).write_text(yaml.safe_dump(raw))
    with pytest.raises(CorruptBlob, match="modified after saving"):
        load_model(tmp_path / "m")
    # ... and re-sealing it is caught by the digest a registry pinned
    resealed = ModelManifest.model_validate(raw).sealed()
    (tmp_path / "m" / MANIFEST).write_text(yaml.safe_dump(resealed.model_dump(mode="json")))
    with pytest.raises(CorruptBlob, match=f"expected {manifest.digest}"):
        load_model(tmp_path / "m", expected_digest=manifest.digest)
    assert not marker.exists()

    save_model(clf, tmp_path / "n")
    (tmp_path / "n" / ".complete").touch()  # a download cache's marker is never read: tolerated
    load_model(tmp_path / "n")
    (tmp_path / "n" / "code").mkdir()
    (tmp_path / "n" / "code" / "sklearn.py").write_text("raise SystemExit('shadowed')\n")
    with pytest.raises(CorruptBlob, match=r"'code/sklearn\.py' is not listed"):
        load_model(tmp_path / "n")
    (tmp_path / "n" / "code" / "sklearn.py").unlink()
    (tmp_path / "n" / "model.pkl").unlink()
    with pytest.raises(CorruptBlob, match=r"'model\.pkl' is missing"):
        load_model(tmp_path / "n")


def test_flavor_options_may_only_name_listed_files(tmp_path: Path, clf: Any) -> None:
    manifest = save_model(clf, tmp_path / "m")
    forged = manifest.model_copy(update={"flavor_options": {"file": "../elsewhere.pkl"}}).sealed()
    (tmp_path / "m" / MANIFEST).write_text(yaml.safe_dump(forged.model_dump(mode="json")))
    with pytest.raises(CorruptBlob, match=r"flavor options name '\.\./elsewhere\.pkl'"):
        load_model(tmp_path / "m")


def test_bad_paths_and_options(tmp_path: Path, clf: Any) -> None:
    with pytest.raises(NotFound, match="not a treadle model directory"):
        load_model(tmp_path)
    save_model(clf, tmp_path / "m")
    with pytest.raises(AlreadyExists):
        save_model(clf, tmp_path / "m")
    (tmp_path / "empty").mkdir()
    save_model(clf, tmp_path / "empty")  # an empty directory is fine
    with pytest.raises(InvalidArgument, match="unknown option 'artifacts' for the sklearn flavor"):
        save_model(clf, tmp_path / "x", artifacts={"a": "b"})
    with pytest.raises(InvalidArgument, match="unknown model flavor 'keras'"):
        save_model(clf, tmp_path / "x", flavor="keras")
    with pytest.raises(InvalidArgument, match=r"cannot tell the flavor of a builtins\.object"):
        save_model(object(), tmp_path / "x")
    with pytest.raises(InvalidArgument, match="requirements must be a list"):
        save_model(clf, tmp_path / "x", requirements="scikit-learn")
    with pytest.raises(InvalidArgument, match="metadata must be JSON-able"):
        save_model(clf, tmp_path / "x", metadata={"f": object()})
    with pytest.raises(InvalidArgument, match="holds a 'sklearn' model, not 'xgboost'"):
        load_model(tmp_path / "m", flavor="xgboost")
    assert not (tmp_path / "x").exists()


def test_failed_save_leaves_nothing(tmp_path: Path, iris: tuple[pd.DataFrame, pd.Series]) -> None:
    sig = infer_signature(pd.DataFrame({"other": [1.0]}))
    clf = LogisticRegression()
    with pytest.raises(InvalidArgument, match="column 'other' is missing"):
        save_model(clf, tmp_path / "m", input_example=iris[0].head(2), signature=sig)
    with pytest.raises(InvalidArgument, match="code path"):
        save_model(clf, tmp_path / "m", code_paths=[tmp_path / "nope.py"])
    assert list(tmp_path.iterdir()) == []


def test_code_paths_ship_the_model_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"usermod_{uuid.uuid4().hex[:8]}"
    src = tmp_path / "src"
    src.mkdir()
    (src / f"{name}.py").write_text(
        "import numpy as np\n"
        "from sklearn.base import BaseEstimator\n"
        "class Doubler(BaseEstimator):\n"
        "    def fit(self, X, y=None):\n        return self\n"
        "    def predict(self, X):\n        return np.asarray(X).sum(axis=1) * 2\n"
    )
    monkeypatch.syspath_prepend(str(src))
    model = __import__(name).Doubler()
    with pytest.warns(UserWarning, match=f"modules no installed package provides \\({name}\\)"):
        save_model(model, tmp_path / "bare")
    manifest = save_model(model, tmp_path / "m", code_paths=[src / f"{name}.py"], input_example=np.ones((2, 3)))
    assert manifest.code_paths == [f"code/{name}.py"] and f"code/{name}.py" in manifest.files
    monkeypatch.undo()
    sys.modules.pop(name)
    try:
        loaded = load_model(tmp_path / "m")
        np.testing.assert_array_equal(loaded.predict(np.ones((2, 3))), [6.0, 6.0])
        assert sys.modules[name].__file__.startswith(str((tmp_path / "m" / "code").resolve()))
        load_model(tmp_path / "m")  # __pycache__ written by the import does not count as tampering
    finally:
        sys.modules.pop(name, None)
        sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]
